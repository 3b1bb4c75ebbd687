// Bootstrap 95% intervals of RI and mRI over test images (DESIGN §7, issue 15.9), from
// per-image correctness. Beside robustness.h (the point estimates and binomial SEs),
// whose notation it uses. Pure functions of plain values; thread-compatible.
//
// Per-image bits: image k of a (dataset, subset) is bit k % 8 of byte k / 8 (least
// significant bit first, numpy.packbits(..., bitorder="little")), in an order that is
// the same in every result of that dataset (the dataset's example order).
#ifndef RIB_COMMON_ROBUSTNESS_BOOTSTRAP_H_
#define RIB_COMMON_ROBUSTNESS_BOOTSTRAP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/robustness.h"

namespace rib {

// The replicates rib draws (B) and the seed they are drawn with: the interval of a
// matrix is then the same on every call. 1,000 replicates put the Monte Carlo error of
// a 2.5% / 97.5% percentile at about 5% of the interval's half-width.
inline constexpr int kBootstrapReplicates = 1000;
inline constexpr uint64_t kBootstrapSeed = 0x5249424F4F54ULL;  // "RIBOOT"

// One (dataset, subset) of one result: which of the subset's `size` images were
// evaluated and which of those were right.
struct ImageBits {
  int64_t size = 0;
  std::string correct;    // (size + 7) / 8 bytes; bits of unevaluated images ignored
  std::string evaluated;  // the same shape, or "" = every image was evaluated
};

// One cell of the matrix: its subsets' bits (one entry per subset, in the same order
// for every cell of a column; one entry for a dataset without subsets), or empty when
// the cell has no per-image result.
using CellBits = std::vector<ImageBits>;

struct BootstrapInput {
  std::vector<std::string> columns;         // as MatrixInput
  std::string pretrain_column;              // as MatrixInput
  std::vector<std::string> row_datasets;    // as MatrixInput
  std::vector<CellBits> baseline;           // one per column; the pre job's bits
  std::vector<std::vector<CellBits>> rows;  // rows[i][j]
  int replicates = kBootstrapReplicates;
  uint64_t seed = kBootstrapSeed;
};

struct BootstrapIntervals {
  // Percentile 95% interval of RI(i), one per row; nullopt where a cell RI(i) needs has
  // no bits.
  std::vector<std::optional<Interval>> ri;
  // Of mRI, when every row has its interval.
  std::optional<Interval> mri;
};

// Each replicate resamples, per (column, subset), the images the baseline evaluated
// (all `size` when its `evaluated` is "") with replacement, as many draws as there are
// such images, once for the whole matrix: every cell of the column, the baseline's
// and each row's, is scored on the same resampled images, so the before/after
// difference of a cell is paired, and rows share their columns' draws as they share
// the images. A cell's accuracy is the weighted fraction correct over the images it
// evaluated; the baseline of cell (i, j) is the pre job's accuracy over the images that
// (i, j) evaluated (its held-out set), and a dataset with subsets is the mean over
// them, as DatasetAccuracy. RI and mRI are then computed as ComputeMatrixMetrics does,
// and the interval is the 2.5th and 97.5th percentile of the replicates.
// INVALID_ARGUMENT for shapes that do not match (cells per column, subsets per cell,
// bytes per size), a row cell that evaluated an image the baseline did not, a subset
// with no evaluated image, or replicates < 1.
absl::StatusOr<BootstrapIntervals> BootstrapRiIntervals(const BootstrapInput& input);

// The number of set bits among the first `size` bits of `bits` ANDed with `mask` ("" =
// all ones): a result's correct count from its bits. INVALID_ARGUMENT when a non-empty
// string has the wrong length for `size`.
absl::StatusOr<int64_t> CountBits(const std::string& bits, const std::string& mask,
                                  int64_t size);

}  // namespace rib

#endif  // RIB_COMMON_ROBUSTNESS_BOOTSTRAP_H_
