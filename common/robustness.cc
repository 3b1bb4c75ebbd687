#include "common/robustness.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace rib {
namespace {

absl::Status CheckCells(const std::vector<Cell>& cells, size_t columns,
                        absl::string_view what) {
  if (cells.size() != columns) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has ", cells.size(), " cells for ", columns, " columns"));
  }
  for (size_t j = 0; j < cells.size(); ++j) {
    if (cells[j].has_value() && !(*cells[j] >= 0.0 && *cells[j] <= 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat(what, " column ", j, ": accuracy ",
                                                     *cells[j], " is outside [0, 1]"));
    }
  }
  return absl::OkStatus();
}

// Mean of values when all are present and there is at least one.
Cell MeanIfComplete(const std::vector<Cell>& values) {
  if (values.empty()) return std::nullopt;
  double sum = 0;
  for (const Cell& v : values) {
    if (!v.has_value()) return std::nullopt;
    sum += *v;
  }
  return sum / static_cast<double>(values.size());
}

// Sums the rows of each subset, checking counts.
absl::StatusOr<std::map<std::string, std::pair<int64_t, int64_t>>> SumBySubset(
    const std::vector<SubsetCount>& counts) {
  std::map<std::string, std::pair<int64_t, int64_t>> out;
  for (const SubsetCount& c : counts) {
    if (c.correct < 0 || c.total < 0 || c.correct > c.total) {
      return absl::InvalidArgumentError(absl::StrCat("subset '", c.subset, "': counts ",
                                                     c.correct, "/", c.total,
                                                     " are not 0 <= correct <= total"));
    }
    auto& [correct, total] = out[c.subset];
    correct += c.correct;
    total += c.total;
  }
  return out;
}

absl::Status CheckSes(const std::vector<double>& ses, size_t columns,
                      absl::string_view what) {
  if (ses.size() != columns) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has ", ses.size(),
                                                   " standard errors for ", columns,
                                                   " columns"));
  }
  for (size_t j = 0; j < ses.size(); ++j) {
    if (!(ses[j] >= 0.0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " column ", j, ": standard error ", ses[j], " is negative or NaN"));
    }
  }
  return absl::OkStatus();
}

// A linear combination Σ w_k A_k of matrix cells with its SE. Cells are added with a
// group: the SEs of one group are taken as fully correlated (weighted SEs summed before
// squaring, so a cell added several times counts once with its summed weight), groups
// as independent: Var = Σ_groups (Σ_k w_k se_k)².
class Combination {
 public:
  void Add(std::pair<int, size_t> group, const Cell& value, double se, double weight) {
    if (!value.has_value()) {
      missing_ = true;
    } else {
      value_ += weight * *value;
    }
    se_[group] += weight * se;
  }

  Cell Value() const { return missing_ ? std::nullopt : Cell(value_); }

  // nullopt without SEs or without a value.
  Cell Se(bool with_se) const {
    if (!with_se || missing_) return std::nullopt;
    double var = 0;
    for (const auto& [group, s] : se_) var += s * s;
    return std::sqrt(var);
  }

 private:
  bool missing_ = false;
  double value_ = 0;
  std::map<std::pair<int, size_t>, double> se_;
};

absl::StatusOr<double> Ratio(const std::string& subset, std::pair<int64_t, int64_t> c) {
  if (c.second == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("subset '", subset, "' has no images"));
  }
  return static_cast<double>(c.first) / static_cast<double>(c.second);
}

}  // namespace

absl::StatusOr<MatrixMetrics> ComputeMatrixMetrics(const MatrixInput& input) {
  const size_t n = input.columns.size();
  std::set<std::string> distinct(input.columns.begin(), input.columns.end());
  if (distinct.size() != n) return absl::InvalidArgumentError("a column is listed twice");
  if (input.rows.size() != input.row_datasets.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        input.rows.size(), " rows but ", input.row_datasets.size(), " row datasets"));
  }
  RIB_RETURN_IF_ERROR(CheckCells(input.baseline, n, "baseline"));
  for (size_t i = 0; i < input.rows.size(); ++i) {
    RIB_RETURN_IF_ERROR(
        CheckCells(input.rows[i], n, absl::StrCat("row '", input.row_datasets[i], "'")));
  }
  const bool with_se = !input.baseline_se.empty() || !input.rows_se.empty();
  if (with_se) {
    RIB_RETURN_IF_ERROR(CheckSes(input.baseline_se, n, "baseline"));
    if (input.rows_se.size() != input.rows.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          input.rows.size(), " rows but ", input.rows_se.size(), " rows of standard errors"));
    }
    for (size_t i = 0; i < input.rows.size(); ++i) {
      RIB_RETURN_IF_ERROR(CheckSes(input.rows_se[i], n,
                                   absl::StrCat("row '", input.row_datasets[i], "'")));
    }
  }
  const bool per_cell = !input.rows_baseline.empty();
  if (per_cell) {
    if (input.rows_baseline.size() != input.rows.size()) {
      return absl::InvalidArgumentError(absl::StrCat(input.rows.size(), " rows but ",
                                                     input.rows_baseline.size(),
                                                     " rows of per-cell baselines"));
    }
    if (with_se && input.rows_baseline_se.size() != input.rows.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(input.rows.size(), " rows but ", input.rows_baseline_se.size(),
                       " rows of per-cell baseline standard errors"));
    }
    for (size_t i = 0; i < input.rows.size(); ++i) {
      const std::string what =
          absl::StrCat("baseline of row '", input.row_datasets[i], "'");
      RIB_RETURN_IF_ERROR(CheckCells(input.rows_baseline[i], n, what));
      if (with_se) RIB_RETURN_IF_ERROR(CheckSes(input.rows_baseline_se[i], n, what));
    }
  }
  // The baseline of cell (i, j) with its SE: the per-cell one where given, else the
  // column's.
  struct Base {
    Cell value;
    double se;
  };
  const auto base = [&](size_t i, size_t j) -> Base {
    if (per_cell && input.rows_baseline[i][j].has_value())
      return {input.rows_baseline[i][j], with_se ? input.rows_baseline_se[i][j] : 0.0};
    return {input.baseline[j], with_se ? input.baseline_se[j] : 0.0};
  };
  const auto cell_se = [&](size_t i, size_t j) {
    return with_se ? input.rows_se[i][j] : 0.0;
  };
  int pretrain = -1;
  for (size_t j = 0; j < n; ++j) {
    if (!input.pretrain_column.empty() && input.columns[j] == input.pretrain_column) {
      pretrain = static_cast<int>(j);
    }
  }

  MatrixMetrics out;
  std::vector<Cell> ris, oods, changes;
  // The row-mean metrics as combinations of cells, for their SEs: mRI, mean OOD and
  // the baseline over the same pairs. Each row's share is 1/R.
  Combination mri, mean_ood, pre_mean_ood;
  const double row_share = input.rows.empty() ? 0.0 : 1.0 / input.rows.size();
  for (size_t i = 0; i < input.rows.size(); ++i) {
    const std::vector<Cell>& row = input.rows[i];
    RowMetrics m;
    m.finetune_dataset = input.row_datasets[i];
    std::vector<Cell> deltas, accs;
    std::vector<size_t> used;
    for (size_t j = 0; j < n; ++j) {
      if (static_cast<int>(j) == pretrain || input.columns[j] == m.finetune_dataset)
        continue;
      used.push_back(j);
      accs.push_back(row[j]);
      const Cell before = base(i, j).value;
      deltas.push_back(row[j].has_value() && before.has_value()
                           ? Cell(*row[j] - *before)
                           : std::nullopt);
    }
    m.ri = MeanIfComplete(deltas);
    m.ood_accuracy = MeanIfComplete(accs);
    Combination ri;
    const int r = static_cast<int>(i);
    for (size_t j : used) {
      const double w = 1.0 / used.size();
      const Base b = base(i, j);
      const std::pair<int, size_t> cell{r, j}, column{-1, j};
      ri.Add(cell, row[j], cell_se(i, j), w);
      ri.Add(column, b.value, b.se, -w);
      mri.Add(cell, row[j], cell_se(i, j), w * row_share);
      mri.Add(column, b.value, b.se, -w * row_share);
      mean_ood.Add(cell, row[j], cell_se(i, j), w * row_share);
      pre_mean_ood.Add(column, b.value, b.se, w * row_share);
    }
    if (m.ri.has_value()) m.ri_se = ri.Se(with_se);
    if (pretrain >= 0 && row[pretrain].has_value() &&
        base(i, pretrain).value.has_value()) {
      m.pretrain_change = *row[pretrain] - *base(i, pretrain).value;
    }
    ris.push_back(m.ri);
    oods.push_back(m.ood_accuracy);
    changes.push_back(m.pretrain_change);
    out.rows.push_back(std::move(m));
  }
  out.mri = MeanIfComplete(ris);
  out.mean_ood_accuracy = MeanIfComplete(oods);
  out.mean_pretrain_change = MeanIfComplete(changes);
  if (out.mri.has_value()) out.mri_se = mri.Se(with_se);
  if (out.mean_ood_accuracy.has_value()) {
    out.mean_ood_se = mean_ood.Se(with_se);
    out.pre_mean_ood_accuracy = pre_mean_ood.Value();
    if (out.pre_mean_ood_accuracy.has_value())
      out.pre_mean_ood_se = pre_mean_ood.Se(with_se);
  }
  std::vector<Cell> baseline_downstream;
  for (size_t j = 0; j < n; ++j) {
    if (static_cast<int>(j) != pretrain) baseline_downstream.push_back(input.baseline[j]);
  }
  out.baseline_ood_accuracy = MeanIfComplete(baseline_downstream);
  return out;
}

Interval NormalInterval95(const Estimate& estimate) {
  return {estimate.value - kZ95 * estimate.se, estimate.value + kZ95 * estimate.se};
}

absl::StatusOr<SeedSummary> SummarizeSeeds(const std::vector<Estimate>& per_seed) {
  if (per_seed.empty()) return absl::InvalidArgumentError("no seeds to summarise");
  SeedSummary out;
  out.count = static_cast<int>(per_seed.size());
  double var = 0;
  for (const Estimate& e : per_seed) {
    out.mean += e.value;
    var += e.se * e.se;
  }
  out.mean /= out.count;
  out.se = std::sqrt(var) / out.count;
  if (out.count > 1) {
    double ss = 0;
    for (const Estimate& e : per_seed) ss += (e.value - out.mean) * (e.value - out.mean);
    out.sd = std::sqrt(ss / (out.count - 1));
  }
  return out;
}

bool SignificantDifference(const SeedSummary& a, const SeedSummary& b) {
  if (a.count < 2 || b.count < 2) return false;
  const double se = std::sqrt(a.sd * a.sd / a.count + b.sd * b.sd / b.count);
  return std::fabs(a.mean - b.mean) > 2.0 * se;
}

absl::StatusOr<double> BinomialStandardError(int64_t correct, int64_t total) {
  if (correct < 0 || total <= 0 || correct > total) {
    return absl::InvalidArgumentError(absl::StrCat(
        "counts ", correct, "/", total, " are not 0 <= correct <= total, total > 0"));
  }
  const double p = static_cast<double>(correct) / static_cast<double>(total);
  return std::sqrt(p * (1.0 - p) / static_cast<double>(total));
}

absl::StatusOr<double> DatasetAccuracy(const std::vector<SubsetCount>& counts) {
  RIB_ASSIGN_OR_RETURN(Estimate e, DatasetEstimate(counts));
  return e.value;
}

absl::StatusOr<Estimate> DatasetEstimate(const std::vector<SubsetCount>& counts) {
  if (counts.empty()) return absl::InvalidArgumentError("no result rows");
  RIB_ASSIGN_OR_RETURN(auto by_subset, SumBySubset(counts));
  auto whole = by_subset.find("");
  if (whole != by_subset.end()) {
    RIB_ASSIGN_OR_RETURN(double acc, Ratio("", whole->second));
    RIB_ASSIGN_OR_RETURN(double se,
                         BinomialStandardError(whole->second.first, whole->second.second));
    return Estimate{acc, se};
  }
  double sum = 0, var = 0;
  for (const auto& [subset, c] : by_subset) {
    RIB_ASSIGN_OR_RETURN(double acc, Ratio(subset, c));
    RIB_ASSIGN_OR_RETURN(double se, BinomialStandardError(c.first, c.second));
    sum += acc;
    var += se * se;
  }
  const double s = static_cast<double>(by_subset.size());
  return Estimate{sum / s, std::sqrt(var) / s};
}

absl::StatusOr<std::map<std::string, double>> CorruptionAccuracies(
    const std::vector<SubsetCount>& counts) {
  RIB_ASSIGN_OR_RETURN(auto by_subset, SumBySubset(counts));
  std::map<std::string, std::pair<double, int>> sums;  // corruption → (sum, severities)
  for (const auto& [subset, c] : by_subset) {
    if (subset.empty()) continue;
    const size_t slash = subset.rfind('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == subset.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("subset '", subset, "' is not <corruption>/<severity>"));
    }
    RIB_ASSIGN_OR_RETURN(double acc, Ratio(subset, c));
    auto& [sum, k] = sums[subset.substr(0, slash)];
    sum += acc;
    ++k;
  }
  std::map<std::string, double> out;
  for (const auto& [corruption, s] : sums) out[corruption] = s.first / s.second;
  return out;
}


namespace {

absl::Status CheckPairs(const std::vector<double>& x, const std::vector<double>& y,
                        size_t min_n) {
  if (x.size() != y.size())
    return absl::InvalidArgumentError(
        absl::StrCat("correlation: ", x.size(), " x values but ", y.size(), " y values"));
  if (x.size() < min_n)
    return absl::InvalidArgumentError(absl::StrCat(
        "correlation: needs at least ", min_n, " pairs, got ", x.size()));
  for (size_t k = 0; k < x.size(); ++k) {
    if (!std::isfinite(x[k]) || !std::isfinite(y[k]))
      return absl::InvalidArgumentError(
          absl::StrCat("correlation: pair ", k, " is not finite"));
  }
  return absl::OkStatus();
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

// Σ (x − x̄)(y − ȳ).
double CrossDeviation(const std::vector<double>& x, const std::vector<double>& y) {
  const double mx = Mean(x), my = Mean(y);
  double sum = 0;
  for (size_t k = 0; k < x.size(); ++k) sum += (x[k] - mx) * (y[k] - my);
  return sum;
}

// 1-based ranks, ties at their mean rank.
std::vector<double> Ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  for (size_t k = 0; k < v.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  for (size_t start = 0; start < order.size();) {
    size_t end = start;
    while (end + 1 < order.size() && v[order[end + 1]] == v[order[start]]) ++end;
    const double rank = (static_cast<double>(start + end) / 2) + 1;
    for (size_t k = start; k <= end; ++k) ranks[order[k]] = rank;
    start = end + 1;
  }
  return ranks;
}

absl::StatusOr<double> Pearson(const std::vector<double>& x, const std::vector<double>& y,
                               absl::string_view what) {
  const double sxx = CrossDeviation(x, x), syy = CrossDeviation(y, y);
  if (!(sxx > 0) || !(syy > 0))
    return absl::InvalidArgumentError(absl::StrCat(
        "correlation: ", what, sxx > 0 ? " y" : " x", " is constant (r is undefined)"));
  return std::clamp(CrossDeviation(x, y) / std::sqrt(sxx * syy), -1.0, 1.0);
}

}  // namespace

absl::StatusOr<Correlation> Correlate(const std::vector<double>& x,
                                      const std::vector<double>& y) {
  RIB_RETURN_IF_ERROR(CheckPairs(x, y, 3));
  Correlation out;
  out.n = static_cast<int>(x.size());
  RIB_ASSIGN_OR_RETURN(out.pearson, Pearson(x, y, "the"));
  RIB_ASSIGN_OR_RETURN(out.spearman, Pearson(Ranks(x), Ranks(y), "the ranked"));
  return out;
}

absl::StatusOr<Line> LeastSquaresLine(const std::vector<double>& x,
                                      const std::vector<double>& y) {
  RIB_RETURN_IF_ERROR(CheckPairs(x, y, 2));
  const double sxx = CrossDeviation(x, x);
  if (!(sxx > 0))
    return absl::InvalidArgumentError("least-squares line: x is constant");
  Line line;
  line.slope = CrossDeviation(x, y) / sxx;
  line.intercept = Mean(y) - line.slope * Mean(x);
  return line;
}

}  // namespace rib
