#include "common/robustness.h"

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
  int pretrain = -1;
  for (size_t j = 0; j < n; ++j) {
    if (!input.pretrain_column.empty() && input.columns[j] == input.pretrain_column) {
      pretrain = static_cast<int>(j);
    }
  }

  MatrixMetrics out;
  std::vector<Cell> ris, oods, changes;
  for (size_t i = 0; i < input.rows.size(); ++i) {
    const std::vector<Cell>& row = input.rows[i];
    RowMetrics m;
    m.finetune_dataset = input.row_datasets[i];
    std::vector<Cell> deltas, accs;
    for (size_t j = 0; j < n; ++j) {
      if (static_cast<int>(j) == pretrain || input.columns[j] == m.finetune_dataset)
        continue;
      accs.push_back(row[j]);
      deltas.push_back(row[j].has_value() && input.baseline[j].has_value()
                           ? Cell(*row[j] - *input.baseline[j])
                           : std::nullopt);
    }
    m.ri = MeanIfComplete(deltas);
    m.ood_accuracy = MeanIfComplete(accs);
    if (pretrain >= 0 && row[pretrain].has_value() &&
        input.baseline[pretrain].has_value()) {
      m.pretrain_change = *row[pretrain] - *input.baseline[pretrain];
    }
    ris.push_back(m.ri);
    oods.push_back(m.ood_accuracy);
    changes.push_back(m.pretrain_change);
    out.rows.push_back(std::move(m));
  }
  out.mri = MeanIfComplete(ris);
  out.mean_ood_accuracy = MeanIfComplete(oods);
  out.mean_pretrain_change = MeanIfComplete(changes);
  std::vector<Cell> baseline_downstream;
  for (size_t j = 0; j < n; ++j) {
    if (static_cast<int>(j) != pretrain) baseline_downstream.push_back(input.baseline[j]);
  }
  out.baseline_ood_accuracy = MeanIfComplete(baseline_downstream);
  return out;
}

absl::StatusOr<double> DatasetAccuracy(const std::vector<SubsetCount>& counts) {
  if (counts.empty()) return absl::InvalidArgumentError("no result rows");
  RIB_ASSIGN_OR_RETURN(auto by_subset, SumBySubset(counts));
  auto whole = by_subset.find("");
  if (whole != by_subset.end()) return Ratio("", whole->second);
  double sum = 0;
  for (const auto& [subset, c] : by_subset) {
    RIB_ASSIGN_OR_RETURN(double acc, Ratio(subset, c));
    sum += acc;
  }
  return sum / static_cast<double>(by_subset.size());
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

}  // namespace rib
