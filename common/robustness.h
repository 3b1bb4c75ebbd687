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

// The z of a two-sided normal 95% interval.
inline constexpr double kZ95 = 1.959963984540054;

// An estimate with its standard error.
struct Estimate {
  double value = 0;
  double se = 0;
};

struct Interval {
  double low = 0;
  double high = 0;
};

// The normal-approximation 95% interval value ± kZ95 · se. The one rule for the
// SE-based intervals of RI and mRI (from binomial standard errors); their bootstrap
// intervals over test images, from per-image bits, are robustness_bootstrap.h's.
Interval NormalInterval95(const Estimate& estimate);

// One value measured once per seed (each with its SE), summarised: the mean, the
// sample standard deviation over the seeds (n − 1; 0 for one seed), and the SE of the
// mean from the per-seed SEs, sqrt(Σ se_k²) / K (seeds are independent runs).
// INVALID_ARGUMENT for no values.
struct SeedSummary {
  double mean = 0;
  double sd = 0;
  double se = 0;
  int count = 0;
};
absl::StatusOr<SeedSummary> SummarizeSeeds(const std::vector<Estimate>& per_seed);

// Whether two methods' means over seeds differ significantly: |mean_a − mean_b| > 2 ·
// sqrt(sd_a² / K_a + sd_b² / K_b), the combined standard error of the difference of
// two means estimated from the seed-to-seed spread (a two-sample z test at ≈95%;
// with few seeds a t test would need more). False when either has fewer than 2 seeds
// (no spread to judge by).
bool SignificantDifference(const SeedSummary& a, const SeedSummary& b);

// The binomial standard error of the accuracy correct / total: sqrt(p (1 - p) / n).
// 0 when p is 0 or 1 (the plug-in estimate; a Wilson interval would not be 0, but the
// plug-in SE is what the paper's tables would quote). INVALID_ARGUMENT for negative
// counts, correct > total, or total 0.
absl::StatusOr<double> BinomialStandardError(int64_t correct, int64_t total);

struct MatrixInput {
  std::vector<std::string> columns;  // evaluation datasets, one per column, distinct
  // The pre-training-set analogue among `columns` ("imagenet-val" / "fmnist-val");
  // "" (or a name not among the columns) when there is none.
  std::string pretrain_column;
  std::vector<Cell> baseline;             // A_j(θ_pre), one per column
  std::vector<std::string> row_datasets;  // the fine-tune dataset of each row
  std::vector<std::vector<Cell>> rows;    // rows[i][j] = A_j(θ_ft,i), one per column
  // The standard error of each accuracy above, in the same shape (a value where the
  // cell is nullopt is ignored). Both empty: no SEs are known and every *_se output
  // below is nullopt.
  std::vector<double> baseline_se;
  std::vector<std::vector<double>> rows_se;
  // The baseline of each cell, when it is not its column's: rows_baseline[i][j] =
  // A_j(θ_pre) on the images that cell (i, j) evaluated (held-out evaluation scores a
  // different part of j per row, and before and after must be on the same images);
  // nullopt = baseline[j]. Empty (the default): every cell's baseline is its column's.
  // RI, the pre-training-set change and pre_mean_ood_accuracy use it; the baseline
  // row and baseline_ood_accuracy stay baseline[j]. With SEs, rows_baseline_se in the
  // same shape (a value where the cell is nullopt is ignored).
  std::vector<std::vector<Cell>> rows_baseline;
  std::vector<std::vector<double>> rows_baseline_se;
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
  // Standard error of ri, when ri and the input's SEs are present (see MatrixMetrics).
  Cell ri_se;
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
  // mean_i mean_{j != i} A_j(pre): the baseline over the same (row, column) pairs as
  // mean_ood_accuracy, so mean_ood_accuracy − pre_mean_ood_accuracy = mri exactly
  // (the "before" of the headline figure). Present when mean_ood_accuracy is and the
  // baseline cells it needs are.
  Cell pre_mean_ood_accuracy;
  // Standard errors. Each metric is a linear combination Σ_k w_k A_k of accuracy
  // cells, and the cells are taken as independent: Var = Σ_k w_k² se_k², except that
  // the baselines of one column (baseline[j] and the rows_baseline[i][j], the pre job
  // on the same or overlapping images) count as one, fully correlated: their weighted
  // SEs add up before squaring (for baseline[j] alone, its weights summed). Every model is scored on
  // the same test images, so the cells are positively correlated: for the differences
  // (ri, mri) that overstates the variance (conservative); for the means of accuracies
  // (mean_ood, pre_mean_ood) it understates it.
  Cell mri_se;
  Cell mean_ood_se;
  Cell pre_mean_ood_se;
};

// INVALID_ARGUMENT when a row or the baseline (or rows_baseline, when given) does not
// have one cell per column, the row datasets do not match the rows, a column repeats,
// an accuracy is outside [0, 1] (or NaN), the SEs (when given) are not in the
// accuracies' shape, or an SE is negative or NaN.
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
  // Per-image correctness, when the evaluator was told the images' positions
  // (EvaluateOptions::bit_position): bit k (robustness_bootstrap.h's order) is the k-th
  // of ALL the dataset's examples of this subset (source order), set when that image
  // was evaluated and right; "" when not recorded.
  std::string correct_bits;
  // Which of those images were evaluated (scored: in the evaluation list and decoded),
  // in the same shape; "" = every one of them (or no bits recorded). Held-out
  // evaluation (data::EvaluationSet) evaluates a different part of a dataset per
  // fine-tune dataset, in one bit space per dataset.
  std::string evaluated_bits;
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
  std::string correct_bits;    // as SubsetCount::correct_bits; "" when not recorded
  std::string evaluated_bits;  // as SubsetCount::evaluated_bits; "" = all evaluated
  double accuracy() const { return total > 0 ? static_cast<double>(correct) / total : 0.0; }
};

// One OTDD result (worker/engine/otdd.h): the distance between the pre-training set
// (`source_dataset`, its validation split) and a downstream set on a model's features,
// with how it was computed. What an otdd job reports, what the coordinator stores
// (migration 0011), and what the matrix correlates; the wire type is
// rib.v1.DatasetDistance.
struct DatasetDistanceRow {
  std::string source_dataset;
  std::string target_dataset;
  double distance = 0;
  int64_t source_examples = 0;  // examples used, after dropping classes of < 2
  int64_t target_examples = 0;
  double epsilon = 0;           // the Sinkhorn regulariser
  bool converged = false;       // Sinkhorn met its tolerance
};

// The accuracy of one dataset from its result rows. Rows with the same subset are
// summed first (counts from several shards or ranks add up). When a whole-dataset row
// (subset "") exists it is the answer; otherwise the answer is the MEAN of the subset
// accuracies — ImageNet-C is reported as the mean over its 75 corruption/severity
// subsets, not as pooled counts. INVALID_ARGUMENT for no rows, negative counts,
// correct > total, or a subset that would be averaged with total 0.
absl::StatusOr<double> DatasetAccuracy(const std::vector<SubsetCount>& counts);

// DatasetAccuracy with its standard error: the binomial SE of the whole-dataset row,
// or, for the mean of S subsets, sqrt(Σ_s p_s (1 − p_s) / n_s) / S, the subsets taken
// as independent (ImageNet-C's are corruptions of the same source images, so this
// understates the SE of their mean). Same errors as DatasetAccuracy.
absl::StatusOr<Estimate> DatasetEstimate(const std::vector<SubsetCount>& counts);

// Per-corruption accuracies of an ImageNet-C-style dataset: for each corruption, the
// mean over its severities of the subset accuracy ("fog/1".."fog/5" → "fog").
// Whole-dataset rows are ignored. INVALID_ARGUMENT for a subset that is not
// "<corruption>/<severity>" or for the count errors of DatasetAccuracy.
absl::StatusOr<std::map<std::string, double>> CorruptionAccuracies(
    const std::vector<SubsetCount>& counts);


// Pearson's r and Spearman's ρ between paired values (x_k, y_k), with their n: the
// statistic the paper's §5 reports between OTDD(pre-training set, i) and the
// pre-training-set change after fine-tuning on i. ρ is Pearson's r of the ranks, tied
// values sharing their mean rank (scipy.stats.spearmanr's default). No p-value: with
// the handful of points a matrix gives, n is reported instead.
struct Correlation {
  double pearson = 0;
  double spearman = 0;
  int n = 0;
};
// INVALID_ARGUMENT when the lengths differ, n < 3 (two points always give ±1), a value
// is not finite, or x or y is constant (r is undefined).
absl::StatusOr<Correlation> Correlate(const std::vector<double>& x,
                                      const std::vector<double>& y);

// The least-squares line y = intercept + slope · x through paired values (the fitted
// line of the OTDD scatter). INVALID_ARGUMENT as Correlate, except that any n >= 2 is
// accepted and a constant y is fine (slope 0).
struct Line {
  double slope = 0;
  double intercept = 0;
};
absl::StatusOr<Line> LeastSquaresLine(const std::vector<double>& x,
                                      const std::vector<double>& y);

}  // namespace rib

#endif  // RIB_COMMON_ROBUSTNESS_H_
