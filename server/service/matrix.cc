#include "server/service/matrix.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/robustness.h"
#include "common/robustness_bootstrap.h"
#include "common/status_macros.h"
#include "spec/methods.h"
#include "spec/sweep.h"

namespace rib::service {
namespace {

using domain::MatrixCell;
using domain::MatrixRow;

MatrixCell CellOf(const std::vector<ResultRow>& results,
                  const std::string& dataset) {
  MatrixCell cell;
  std::vector<SubsetCount> counts;
  for (const ResultRow& a : results) {
    if (a.dataset != dataset) continue;
    counts.push_back({a.subset, a.correct, a.total, a.skipped});
    cell.correct += a.correct;
    cell.total += a.total;
    cell.skipped += a.skipped;
  }
  if (counts.empty()) return MatrixCell{};
  absl::StatusOr<Estimate> acc = DatasetEstimate(counts);
  if (!acc.ok()) return MatrixCell{};  // e.g. an empty subset: no meaningful accuracy
  cell.present = true;
  cell.accuracy = acc->value;
  cell.se = acc->se;
  return cell;
}

MatrixRow RowOf(const storage::MatrixJob* job, const std::vector<std::string>& columns,
                const std::string& finetune_dataset) {
  MatrixRow row;
  row.finetune_dataset = finetune_dataset;
  if (job != nullptr) row.job_state = job->state;
  for (const std::string& c : columns) {
    row.cells.push_back(job == nullptr ? MatrixCell{} : CellOf(job->results, c));
  }
  return row;
}

// The row's accuracies as the metrics see them: only a SUCCEEDED job's. A running or
// failed job's cells are partial (or an attempt's leftovers) and enter no RI or mRI.
std::vector<Cell> Accuracies(const MatrixRow& row) {
  const bool final = row.job_state == domain::JobState::kSucceeded;
  std::vector<Cell> out;
  for (const MatrixCell& c : row.cells) {
    out.push_back(final && c.present ? Cell(c.accuracy) : std::nullopt);
  }
  return out;
}

std::vector<double> Ses(const MatrixRow& row) {
  std::vector<double> out;
  for (const MatrixCell& c : row.cells) out.push_back(c.se);
  return out;
}

std::optional<Interval> IntervalOf(const Cell& value, const Cell& se) {
  if (!value || !se) return std::nullopt;
  return NormalInterval95({*value, *se});
}

// The bootstrap's resampling cost, replicates x images, above which BuildMatrices
// leaves the bootstrap intervals out (GetMatrix answers within a second or so; the
// full ImageNet-RIB matrix, about 4 million images with ImageNet-C's 75 subsets,
// would take minutes).
constexpr int64_t kMaxBootstrapDraws = 200'000'000;

bool Succeeded(const storage::MatrixJob* job) {
  return job != nullptr && job->state == domain::JobState::kSucceeded;
}

// A result row's bits in one shape for every row of its dataset: a bit per position of
// correct_bits' bytes, the evaluated ones marked. A row without evaluated_bits (from
// before them, or one that evaluated every image) evaluated its first total + skipped
// positions: those are its images (a skipped one, in results from before
// evaluated_bits, counted as evaluated and wrong, as it always did).
ImageBits BitsOfRow(const ResultRow& a) {
  ImageBits out{static_cast<int64_t>(a.correct_bits.size()) * 8, a.correct_bits,
                a.evaluated_bits};
  if (out.evaluated.empty()) {
    out.evaluated.assign(a.correct_bits.size(), '\0');
    for (int64_t k = 0; k < a.total + a.skipped && k < out.size; ++k)
      out.evaluated[k >> 3] = static_cast<char>(out.evaluated[k >> 3] | (1 << (k & 7)));
  }
  return out;
}

// The per-image bits of `dataset` in a SUCCEEDED job's results, subsets in the
// results' order (sorted by subset, the query's order); empty when the job has not
// succeeded or any row lacks bits. `subsets`, when given, receives their names.
CellBits BitsOf(const storage::MatrixJob* job, const std::string& dataset,
                int64_t* images, std::vector<std::string>* subsets = nullptr) {
  CellBits out;
  if (!Succeeded(job)) return out;
  for (const ResultRow& a : job->results) {
    if (a.dataset != dataset) continue;
    if (a.correct_bits.empty()) return {};
    out.push_back(BitsOfRow(a));
    if (subsets != nullptr) subsets->push_back(a.subset);
    *images += a.total + a.skipped;
  }
  return out;
}

// The baseline of cell (row, dataset) when the row evaluated only part of the
// dataset's images (held-out evaluation: some evaluated_bits given): the pre job's
// accuracy, with its SE, on the images the row evaluated, per subset and then as
// DatasetEstimate combines subsets. nullopt, and the column's baseline stands in, when
// the row evaluated all of them (results from before evaluated_bits, split:
// reference, a dataset not trained on), or when the pre job's bits do not line up
// with the row's: no bits, other subsets or another bit space (results of the old,
// test-split protocol beside new ones; their job hashes differ, so a new sweep does
// not mix them, but a matrix over old results must still answer), or an image the row
// evaluated that the pre job did not.
std::optional<Estimate> CellBaseline(const storage::MatrixJob* pre,
                                     const storage::MatrixJob* row,
                                     const std::string& dataset) {
  if (!Succeeded(pre) || !Succeeded(row)) return std::nullopt;
  bool partial = false;
  for (const ResultRow& a : row->results)
    partial = partial || (a.dataset == dataset && !a.evaluated_bits.empty());
  if (!partial) return std::nullopt;
  int64_t ignored = 0;
  std::vector<std::string> row_subsets, pre_subsets;
  const CellBits after = BitsOf(row, dataset, &ignored, &row_subsets);
  const CellBits before = BitsOf(pre, dataset, &ignored, &pre_subsets);
  if (after.empty() || row_subsets != pre_subsets) return std::nullopt;
  std::vector<SubsetCount> counts;
  for (size_t s = 0; s < after.size(); ++s) {
    const ImageBits& r = after[s];
    const ImageBits& p = before[s];
    if (r.size != p.size) return std::nullopt;
    absl::StatusOr<int64_t> n = CountBits(r.evaluated, "", r.size);
    absl::StatusOr<int64_t> both = CountBits(r.evaluated, p.evaluated, r.size);
    absl::StatusOr<int64_t> right = CountBits(p.correct, r.evaluated, r.size);
    if (!n.ok() || !both.ok() || !right.ok() || *both != *n) return std::nullopt;
    counts.push_back({row_subsets[s], *right, *n});
  }
  absl::StatusOr<Estimate> e = DatasetEstimate(counts);
  if (!e.ok()) return std::nullopt;
  return *e;
}

// RI / mRI bootstrap intervals of one matrix, when its jobs recorded per-image bits.
void AddBootstrap(const storage::MatrixJob* baseline,
                  const std::vector<const storage::MatrixJob*>& row_jobs,
                  const MatrixInput& input, domain::Matrix* mat) {
  BootstrapInput boot;
  boot.columns = input.columns;
  boot.pretrain_column = input.pretrain_column;
  boot.row_datasets = input.row_datasets;
  int64_t images = 0;
  for (const std::string& c : input.columns)
    boot.baseline.push_back(BitsOf(baseline, c, &images));
  for (const storage::MatrixJob* job : row_jobs) {
    boot.rows.emplace_back();
    for (const std::string& c : input.columns) {
      int64_t ignored = 0;
      boot.rows.back().push_back(BitsOf(job, c, &ignored));
    }
  }
  if (images * boot.replicates > kMaxBootstrapDraws) return;
  absl::StatusOr<BootstrapIntervals> intervals = BootstrapRiIntervals(boot);
  // Bits that do not line up (a job re-run with another split) give no interval rather
  // than failing the whole matrix; the counts-based figures stand.
  if (!intervals.ok()) return;
  for (size_t i = 0; i < mat->rows.size(); ++i)
    mat->rows[i].ri_bootstrap_ci = intervals->ri[i];
  mat->mri_bootstrap_ci = intervals->mri;
}

// Mean over seeds of a value every seed has (with its SE; nullopt otherwise), its SE
// and sd: SummarizeSeeds.
std::optional<SeedSummary> OverSeeds(const std::vector<Cell>& values,
                                     const std::vector<Cell>& ses) {
  std::vector<Estimate> per_seed;
  for (size_t k = 0; k < values.size(); ++k) {
    if (!values[k]) return std::nullopt;
    per_seed.push_back({*values[k], ses[k].value_or(0)});
  }
  absl::StatusOr<SeedSummary> s = SummarizeSeeds(per_seed);
  if (!s.ok()) return std::nullopt;
  return *s;
}

// Collects one optional field of each seed's object into values (and SEs).
template <typename T, typename F, typename G>
std::optional<SeedSummary> Field(const std::vector<const T*>& per_seed, F value, G se) {
  std::vector<Cell> values, ses;
  for (const T* t : per_seed) {
    values.push_back(value(*t));
    ses.push_back(se(*t));
  }
  return OverSeeds(values, ses);
}

// One row from the same row of each seed's matrix: a cell is the mean over the seeds
// when every seed has it (counts summed); the job state is the first seed's that has
// not succeeded, else succeeded.
MatrixRow CombineRows(const std::vector<const MatrixRow*>& rows) {
  MatrixRow out;
  out.finetune_dataset = rows[0]->finetune_dataset;
  out.job_state = rows[0]->job_state;
  for (const MatrixRow* r : rows) {
    if (r->job_state != domain::JobState::kSucceeded) {
      out.job_state = r->job_state;
      break;
    }
  }
  for (size_t c = 0; c < rows[0]->cells.size(); ++c) {
    MatrixCell cell;
    std::vector<Cell> values, ses;
    for (const MatrixRow* r : rows) {
      const MatrixCell& rc = r->cells[c];
      values.push_back(rc.present ? Cell(rc.accuracy) : std::nullopt);
      ses.push_back(rc.se);
      cell.correct += rc.correct;
      cell.total += rc.total;
      cell.skipped += rc.skipped;
    }
    if (std::optional<SeedSummary> s = OverSeeds(values, ses)) {
      cell.present = true;
      cell.accuracy = s->mean;
      cell.se = s->se;
      cell.seed_sd = s->sd;
    }
    out.cells.push_back(cell);
  }
  auto ri = Field(rows, [](const MatrixRow& r) { return r.ri; },
                  [](const MatrixRow& r) { return r.ri_se; });
  if (ri) {
    out.ri = ri->mean;
    out.ri_se = ri->se;
    out.ri_ci = NormalInterval95({ri->mean, ri->se});
    out.ri_seed_sd = ri->sd;
  }
  auto change = Field(rows, [](const MatrixRow& r) { return r.pretrain_change; },
                      [](const MatrixRow&) { return Cell(0.0); });
  if (change) out.pretrain_change = change->mean;
  out.otdd = rows[0]->otdd;  // one otdd job serves every seed
  return out;
}

// The matrix of several seeds from each seed's matrix of the same (model, method).
domain::Matrix CombineSeeds(const std::vector<const domain::Matrix*>& per_seed,
                            const std::vector<int64_t>& seeds) {
  domain::Matrix out;
  const domain::Matrix& first = *per_seed[0];
  out.model = first.model;
  out.method = first.method;
  out.eval_datasets = first.eval_datasets;
  out.pretrain_dataset = first.pretrain_dataset;
  out.seeds = seeds;
  std::vector<const MatrixRow*> baselines;
  for (const domain::Matrix* m : per_seed) baselines.push_back(&m->baseline);
  out.baseline = CombineRows(baselines);
  for (size_t i = 0; i < first.rows.size(); ++i) {
    std::vector<const MatrixRow*> rows;
    for (const domain::Matrix* m : per_seed) rows.push_back(&m->rows[i]);
    out.rows.push_back(CombineRows(rows));
  }
  using M = domain::Matrix;
  if (auto s = Field(per_seed, [](const M& m) { return m.mri; },
                     [](const M& m) { return m.mri_se; })) {
    out.mri = s->mean;
    out.mri_se = s->se;
    out.mri_ci = NormalInterval95({s->mean, s->se});
    out.mri_seed_sd = s->sd;
  }
  if (auto s = Field(per_seed, [](const M& m) { return m.mean_ood; },
                     [](const M& m) { return m.mean_ood_se; })) {
    out.mean_ood = s->mean;
    out.mean_ood_se = s->se;
    out.mean_ood_seed_sd = s->sd;
  }
  if (auto s = Field(per_seed, [](const M& m) { return m.pre_mean_ood; },
                     [](const M& m) { return m.pre_mean_ood_se; })) {
    out.pre_mean_ood = s->mean;
    out.pre_mean_ood_se = s->se;
    out.pre_mean_ood_seed_sd = s->sd;
  }
  if (auto s = Field(per_seed, [](const M& m) { return m.mean_pretrain_change; },
                     [](const M&) { return Cell(0.0); })) {
    out.mean_pretrain_change = s->mean;
  }
  return out;
}

}  // namespace

std::vector<OtddPoint> OtddPoints(const std::vector<domain::Matrix>& matrices,
                                  const std::string& method) {
  std::vector<OtddPoint> out;
  for (const domain::Matrix& m : matrices) {
    if (m.method != method) continue;
    for (const MatrixRow& row : m.rows) {
      if (row.otdd && row.pretrain_change)
        out.push_back({m.model, row.finetune_dataset, *row.otdd, *row.pretrain_change});
    }
  }
  return out;
}

void AddOtddCorrelations(std::vector<domain::Matrix>& matrices) {
  std::map<std::string, std::pair<std::optional<Correlation>, std::optional<Line>>> by;
  for (const domain::Matrix& m : matrices) {
    if (by.count(m.method)) continue;
    std::vector<double> x, y;
    for (const OtddPoint& p : OtddPoints(matrices, m.method)) {
      x.push_back(p.otdd);
      y.push_back(p.pretrain_change);
    }
    auto& [corr, line] = by[m.method];
    // Fewer than 3 points, or a constant coordinate: no correlation to report.
    if (absl::StatusOr<Correlation> c = Correlate(x, y); c.ok()) corr = *c;
    if (absl::StatusOr<Line> l = LeastSquaresLine(x, y); corr && l.ok()) line = *l;
  }
  for (domain::Matrix& m : matrices) {
    m.otdd_correlation = by[m.method].first;
    m.otdd_line = by[m.method].second;
  }
}

absl::StatusOr<std::vector<domain::Matrix>> BuildMatrices(
    const domain::Sweep& sweep, const std::vector<storage::MatrixJob>& jobs,
    const std::string& model, const std::string& method) {
  std::set<int64_t> seed_set;
  for (const storage::MatrixJob& j : jobs) seed_set.insert(j.seed);
  if (seed_set.size() > 1) {
    // A sweep with seeds: each seed's matrices alone, then their means and sds.
    const std::vector<int64_t> seeds(seed_set.begin(), seed_set.end());
    std::vector<std::vector<domain::Matrix>> per_seed;
    for (int64_t seed : seeds) {
      std::vector<storage::MatrixJob> mine;
      for (const storage::MatrixJob& j : jobs) {
        // An otdd job does not train: every seed's rows read its distance.
        if (j.seed == seed || j.method_kind == spec::kOtddKind) mine.push_back(j);
      }
      RIB_ASSIGN_OR_RETURN(std::vector<domain::Matrix> m,
                           BuildMatrices(sweep, mine, model, method));
      per_seed.push_back(std::move(m));
    }
    std::vector<domain::Matrix> out;
    for (size_t i = 0; i < per_seed[0].size(); ++i) {
      std::vector<const domain::Matrix*> same;
      for (const auto& m : per_seed) {
        if (i >= m.size() || m[i].method != per_seed[0][i].method ||
            m[i].model != per_seed[0][i].model) {
          return absl::InternalError(absl::StrCat(
              "sweep ", sweep.id, ": the seeds' matrices do not line up at ", i));
        }
        same.push_back(&m[i]);
      }
      out.push_back(CombineSeeds(same, seeds));
    }
    AddOtddCorrelations(out);
    return out;
  }
  if (!model.empty() &&
      std::find(sweep.models.begin(), sweep.models.end(), model) == sweep.models.end()) {
    return absl::NotFoundError(
        absl::StrCat("sweep ", sweep.id, " has no model '", model, "'"));
  }
  // (model, method name, fine-tune dataset) → job; baseline: (model, "", "").
  std::map<std::tuple<std::string, std::string, std::string>, const storage::MatrixJob*>
      by;
  std::map<std::string, std::string> kind_of;  // method name → kind
  // (model, fine-tune dataset) → OTDD of a succeeded otdd job.
  std::map<std::pair<std::string, std::string>, double> otdd;
  for (const storage::MatrixJob& j : jobs) {
    if (j.method_kind == spec::kOtddKind) {
      if (j.state == domain::JobState::kSucceeded && j.distance.has_value())
        otdd[{j.model, j.finetune_dataset}] = j.distance->distance;
    } else if (j.method_kind == "pre") {
      by[{j.model, "", ""}] = &j;
    } else {
      by[{j.model, j.method, j.finetune_dataset}] = &j;
      kind_of[j.method] = j.method_kind;
    }
  }
  std::vector<std::string> methods;
  for (const std::string& m : sweep.methods) {
    auto it = kind_of.find(m);
    if (it != kind_of.end() && it->second != "pre") methods.push_back(m);
  }
  if (!method.empty()) {
    if (std::find(methods.begin(), methods.end(), method) == methods.end()) {
      return absl::NotFoundError(
          absl::StrCat("sweep ", sweep.id, " has no fine-tuning method '", method, "'"));
    }
    methods = {method};
  }
  const std::vector<std::string>& columns = sweep.eval_datasets;
  const std::string pretrain = spec::SuitePretrainDataset(sweep.suite);
  const bool has_pretrain =
      std::find(columns.begin(), columns.end(), pretrain) != columns.end();

  std::vector<domain::Matrix> out;
  for (const std::string& m : sweep.models) {
    if (!model.empty() && m != model) continue;
    auto base_it = by.find({m, "", ""});
    for (const std::string& meth : methods) {
      domain::Matrix mat;
      mat.model = m;
      mat.method = meth;
      mat.eval_datasets = columns;
      mat.pretrain_dataset = has_pretrain ? pretrain : "";
      mat.baseline = RowOf(base_it == by.end() ? nullptr : base_it->second, columns, "");
      MatrixInput input;
      input.columns = columns;
      input.pretrain_column = mat.pretrain_dataset;
      input.baseline = Accuracies(mat.baseline);
      input.baseline_se = Ses(mat.baseline);
      std::vector<const storage::MatrixJob*> row_jobs;
      for (const std::string& d : sweep.finetune_datasets) {
        auto it = by.find({m, meth, d});
        row_jobs.push_back(it == by.end() ? nullptr : it->second);
        mat.rows.push_back(RowOf(row_jobs.back(), columns, d));
        if (auto o = otdd.find({m, d}); o != otdd.end()) mat.rows.back().otdd = o->second;
        input.row_datasets.push_back(d);
        input.rows.push_back(Accuracies(mat.rows.back()));
        input.rows_se.push_back(Ses(mat.rows.back()));
        // Before and after on the same images: the pre job restricted to what the
        // row evaluated (held-out evaluation), where the bits allow.
        input.rows_baseline.emplace_back();
        input.rows_baseline_se.emplace_back();
        for (const std::string& c : columns) {
          const std::optional<Estimate> b = CellBaseline(
              base_it == by.end() ? nullptr : base_it->second, row_jobs.back(), c);
          input.rows_baseline.back().push_back(b ? Cell(b->value) : std::nullopt);
          input.rows_baseline_se.back().push_back(b ? b->se : 0.0);
        }
      }
      RIB_ASSIGN_OR_RETURN(MatrixMetrics metrics, ComputeMatrixMetrics(input));
      for (size_t i = 0; i < mat.rows.size(); ++i) {
        mat.rows[i].ri = metrics.rows[i].ri;
        mat.rows[i].pretrain_change = metrics.rows[i].pretrain_change;
        mat.rows[i].ri_se = metrics.rows[i].ri_se;
        mat.rows[i].ri_ci = IntervalOf(metrics.rows[i].ri, metrics.rows[i].ri_se);
      }
      mat.mri = metrics.mri;
      mat.mri_se = metrics.mri_se;
      mat.mri_ci = IntervalOf(metrics.mri, metrics.mri_se);
      mat.mean_ood_se = metrics.mean_ood_se;
      mat.pre_mean_ood = metrics.pre_mean_ood_accuracy;
      mat.pre_mean_ood_se = metrics.pre_mean_ood_se;
      mat.mean_ood = metrics.mean_ood_accuracy;
      mat.mean_pretrain_change = metrics.mean_pretrain_change;
      AddBootstrap(base_it == by.end() ? nullptr : base_it->second, row_jobs, input,
                   &mat);
      out.push_back(std::move(mat));
    }
  }
  AddOtddCorrelations(out);
  return out;
}

}  // namespace rib::service
