// Top-1 evaluation (DESIGN §7): class masks, ObjectNet's any-accepted rule, per-subset
// counts (ImageNet-C "corruption/severity"), decode failures counted beside the
// accuracies, counts summed across ranks. Thread-compatible.
#ifndef RIB_WORKER_ENGINE_EVALUATE_H_
#define RIB_WORKER_ENGINE_EVALUATE_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/robustness.h"
#include "worker/engine/batches.h"
#include "worker/engine/events.h"
#include "worker/engine/label_mask.h"
#include "worker/engine/model.h"
#include "worker/engine/precision.h"

namespace rib::dist {
class ProcessGroup;
}  // namespace rib::dist

namespace rib::engine {

// The evaluator's per-subset counts are rib::SubsetCount (common/robustness.h), the
// type the robustness math uses.

struct EvaluateOptions {
  torch::Device device = torch::kCPU;
  // Autocast for the forward pass (ResolvePrecision; default none).
  Precision precision;
  // Every subset this dataset can report, in output order (the same on every rank, so
  // counts can be summed). Empty = one row with subset "".
  std::vector<std::string> subsets;
  // Examples each subset has over all ranks (same order as `subsets`). When given, a
  // subset's skipped count is expected − scored, so decode failures are attributed to
  // their subset; otherwise the batches' skipped counts all go to the first row.
  std::vector<int64_t> expected_totals;
  // Per-image correctness: bit_position[Example::index] is the example's bit among its
  // subset's (-1 or out of range: no bit; such an example in a batch is an error).
  // Empty (the default): no bits are recorded. Needs expected_totals and batches that
  // carry indices. The bits are gathered across ranks.
  std::vector<int64_t> bit_position;
  // Bits per subset (same order as `subsets`): the runner numbers ALL of a dataset's
  // examples of a subset, of which the evaluation list is a part. Empty (the default) =
  // expected_totals (the bits number the evaluation list alone).
  std::vector<int64_t> bit_sizes;
  dist::ProcessGroup* group = nullptr;
  // Told after every batch (EventSink::OnAlive), so the worker sees progress during a
  // long evaluation; nullptr = nobody. Not owned.
  EventSink* sink = nullptr;
};

// Runs `forward` (no grad) over the stream and counts correct top-1 predictions.
// Returns one row per subset of options.subsets, in that order, with its correct_bits
// and evaluated_bits (the scored images; "" when every bit's image was scored) when
// options.bit_position is given. A skipped image (decode failure) is not evaluated.
// INVALID_ARGUMENT when a batch names a subset that is not in options.subsets, or when
// bit_position is given without expected_totals (or with bit_sizes of another length)
// or batches without indices, or maps an example outside its subset's bits.
absl::StatusOr<std::vector<SubsetCount>> Evaluate(const ForwardFn& forward,
                                                  BatchStream& stream,
                                                  const LabelMask& mask,
                                                  const EvaluateOptions& options);

// Pure counting on given logits (used by Evaluate; tested on hand-made logits).
// Adds into `counts` at the index of each example's subset in `subsets`. With `right`,
// also appends each example's correctness (1/0) to it, in order.
absl::Status CountCorrect(const torch::Tensor& logits, const torch::Tensor& labels,
                          const std::vector<std::string>& example_subsets,
                          const LabelMask& mask, const std::vector<std::string>& subsets,
                          std::vector<SubsetCount>* counts,
                          std::vector<char>* right = nullptr);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_EVALUATE_H_
