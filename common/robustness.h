// Robustness-inheritance metrics of one (model, method) matrix (DESIGN §7), and the
// reduction of per-subset counts to a dataset's accuracy. Pure functions of plain
// values: no torch, no database; the coordinator, the CLI and the benches share them.
// Thread-compatible.
//
// Notation: A_j(θ) is the top-1 accuracy on evaluation dataset j (a fraction in
// [0, 1]); row i holds A_j(θ_ft,i) for the model fine-tuned on dataset i; the
// baseline row holds A_j(θ_pre). "Downstream" columns are all columns except the
// pre-training-set analogue (imagenet-val / fmnist-val), which is never part of RI.
#ifndef RIB_COMMON_ROBUSTNESS_H_
#define RIB_COMMON_ROBUSTNESS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace rib {

// One accuracy, or nullopt when the cell has no result (yet).
using Cell = std::optional<double>;

struct MatrixInput {
  std::vector<std::string> columns;  // evaluation datasets, one per column, distinct
  // The pre-training-set analogue among `columns` ("imagenet-val" / "fmnist-val");
  // "" (or a name not among the columns) when there is none.
  std::string pretrain_column;
  std::vector<Cell> baseline;             // A_j(θ_pre), one per column
  std::vector<std::string> row_datasets;  // the fine-tune dataset of each row
  std::vector<std::vector<Cell>> rows;    // rows[i][j] = A_j(θ_ft,i), one per column
};

struct RowMetrics {
  std::string finetune_dataset;
  // RI(i) = mean over downstream j != i of A_j(ft_i) − A_j(pre). nullopt when a cell
  // it needs is missing, or when no downstream column other than i exists.
  Cell ri;
  // Post-fine-tuning OOD accuracy: mean over downstream j != i of A_j(ft_i).
  Cell ood_accuracy;
  // Pre-training-set change A_val(ft_i) − A_val(pre).
  Cell pretrain_change;
};

struct MatrixMetrics {
  std::vector<RowMetrics> rows;  // in input order
  // Means over the rows, present only when every row has its value (a mean over the
  // rows that happen to be done would silently change meaning as results arrive).
  Cell mri;
  // mean_i mean_{j != i} A_j(ft_i); equals mri + baseline_ood_accuracy on a complete
  // matrix whose rows are exactly the downstream columns.
  Cell mean_ood_accuracy;
  Cell mean_pretrain_change;
  // mean_j A_j(pre) over the downstream columns (the baseline's OOD accuracy).
  Cell baseline_ood_accuracy;
};

// INVALID_ARGUMENT when a row or the baseline does not have one cell per column, the
// row datasets do not match the rows, a column repeats, or an accuracy is outside
// [0, 1] (or NaN).
absl::StatusOr<MatrixMetrics> ComputeMatrixMetrics(const MatrixInput& input);

// Counts of one subset of one dataset: what the evaluator returns per subset and what
// a result row stores (beside its dataset name). The one C++ type for this count; the
// wire type is rib.v1.Accuracy.
struct SubsetCount {
  std::string subset;  // "" = the whole dataset; "gaussian_noise/3" for ImageNet-C
  int64_t correct = 0;
  int64_t total = 0;    // examples scored
  int64_t skipped = 0;  // examples that failed to decode (not in total); no accuracy
                        // below reads it
};

// One result row: a SubsetCount of a named dataset. What the engine returns per eval
// dataset and subset (RunResult::results), what the coordinator stores per attempt, and
// what the matrix is computed from; the wire type is rib.v1.Accuracy.
struct ResultRow {
  std::string dataset;
  std::string subset;  // "" = the whole dataset; "gaussian_noise/3" for ImageNet-C
  int64_t correct = 0;
  int64_t total = 0;
  int64_t skipped = 0;
  double accuracy() const { return total > 0 ? static_cast<double>(correct) / total : 0.0; }
};

// The accuracy of one dataset from its result rows. Rows with the same subset are
// summed first (counts from several shards or ranks add up). When a whole-dataset row
// (subset "") exists it is the answer; otherwise the answer is the MEAN of the subset
// accuracies — ImageNet-C is reported as the mean over its 75 corruption/severity
// subsets, not as pooled counts. INVALID_ARGUMENT for no rows, negative counts,
// correct > total, or a subset that would be averaged with total 0.
absl::StatusOr<double> DatasetAccuracy(const std::vector<SubsetCount>& counts);

// Per-corruption accuracies of an ImageNet-C-style dataset: for each corruption, the
// mean over its severities of the subset accuracy ("fog/1".."fog/5" → "fog").
// Whole-dataset rows are ignored. INVALID_ARGUMENT for a subset that is not
// "<corruption>/<severity>" or for the count errors of DatasetAccuracy.
absl::StatusOr<std::map<std::string, double>> CorruptionAccuracies(
    const std::vector<SubsetCount>& counts);

}  // namespace rib

#endif  // RIB_COMMON_ROBUSTNESS_H_
