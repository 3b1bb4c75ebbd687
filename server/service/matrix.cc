#include "server/service/matrix.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/robustness.h"
#include "common/status_macros.h"
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

}  // namespace

absl::StatusOr<std::vector<domain::Matrix>> BuildMatrices(
    const domain::Sweep& sweep, const std::vector<storage::MatrixJob>& jobs,
    const std::string& model, const std::string& method) {
  if (!model.empty() &&
      std::find(sweep.models.begin(), sweep.models.end(), model) == sweep.models.end()) {
    return absl::NotFoundError(
        absl::StrCat("sweep ", sweep.id, " has no model '", model, "'"));
  }
  // (model, method name, fine-tune dataset) → job; baseline: (model, "", "").
  std::map<std::tuple<std::string, std::string, std::string>, const storage::MatrixJob*>
      by;
  std::map<std::string, std::string> kind_of;  // method name → kind
  for (const storage::MatrixJob& j : jobs) {
    if (j.method_kind == "pre") {
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
      for (const std::string& d : sweep.finetune_datasets) {
        auto it = by.find({m, meth, d});
        mat.rows.push_back(RowOf(it == by.end() ? nullptr : it->second, columns, d));
        input.row_datasets.push_back(d);
        input.rows.push_back(Accuracies(mat.rows.back()));
        input.rows_se.push_back(Ses(mat.rows.back()));
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
      out.push_back(std::move(mat));
    }
  }
  return out;
}

}  // namespace rib::service
