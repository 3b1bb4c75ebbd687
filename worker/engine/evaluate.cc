#include "worker/engine/evaluate.h"

#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/collectives.h"
#include "worker/engine/torch_errors.h"

namespace rib::engine {
namespace {

absl::StatusOr<size_t> SubsetIndex(const std::vector<std::string>& subsets,
                                   const std::string& subset) {
  if (subsets.empty()) {
    if (subset.empty()) return 0;
  } else {
    for (size_t i = 0; i < subsets.size(); ++i) {
      if (subsets[i] == subset) return i;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("example of unknown subset '", subset, "'"));
}

std::vector<SubsetCount> EmptyCounts(const std::vector<std::string>& subsets) {
  std::vector<SubsetCount> counts;
  if (subsets.empty()) {
    counts.push_back(SubsetCount{});
  } else {
    for (const auto& s : subsets) counts.push_back(SubsetCount{s});
  }
  return counts;
}

}  // namespace

absl::Status CountCorrect(const torch::Tensor& logits, const torch::Tensor& labels,
                          const std::vector<std::string>& example_subsets,
                          const LabelMask& mask, const std::vector<std::string>& subsets,
                          std::vector<SubsetCount>* counts) {
  if (counts->empty()) *counts = EmptyCounts(subsets);
  torch::Tensor correct = mask.Correct(logits, labels).to(torch::kCPU);
  auto acc = correct.accessor<bool, 1>();
  for (int64_t i = 0; i < correct.size(0); ++i) {
    const std::string& subset =
        i < static_cast<int64_t>(example_subsets.size()) ? example_subsets[i] : "";
    RIB_ASSIGN_OR_RETURN(size_t k, SubsetIndex(subsets, subset));
    (*counts)[k].total += 1;
    (*counts)[k].correct += acc[i] ? 1 : 0;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SubsetCount>> Evaluate(const ForwardFn& forward,
                                                  BatchStream& stream,
                                                  const LabelMask& mask,
                                                  const EvaluateOptions& options) {
  std::vector<SubsetCount> counts = EmptyCounts(options.subsets);
  // No autograd bookkeeping at all (not even version counters) for the logits.
  c10::InferenceMode inference_mode;
  Batch batch;
  while (true) {
    RIB_ASSIGN_OR_RETURN(bool more, stream.Next(&batch));
    if (!more) break;
    // Per batch read, decodable or not: a long evaluation must not look hung.
    if (options.sink != nullptr) options.sink->OnAlive();
    counts[0].skipped += batch.skipped;
    if (!batch.images.defined() || batch.images.size(0) == 0) continue;
    torch::Tensor logits;
    // Converted here, not at RunJob's boundary, so that the caller can name the
    // dataset (torch_errors.h).
    try {
      AutocastScope autocast(options.precision);
      logits = forward(batch.images.to(options.device)).to(torch::kFloat);
    } catch (const std::exception& e) {
      return ExceptionToStatus(e, "evaluation forward pass");
    }
    RIB_RETURN_IF_ERROR(
        CountCorrect(logits, batch.labels, batch.subsets, mask, options.subsets, &counts));
  }
  // Sum across ranks: [S, 3] int64.
  torch::Tensor packed = torch::zeros({static_cast<int64_t>(counts.size()), 3}, torch::kLong);
  for (size_t i = 0; i < counts.size(); ++i) {
    packed[i][0] = counts[i].correct;
    packed[i][1] = counts[i].total;
    packed[i][2] = counts[i].skipped;
  }
  RIB_RETURN_IF_ERROR(AllReduceSum(options.group, {packed}));
  auto acc = packed.accessor<int64_t, 2>();
  for (size_t i = 0; i < counts.size(); ++i) {
    counts[i].correct = acc[i][0];
    counts[i].total = acc[i][1];
    counts[i].skipped = acc[i][2];
  }
  if (!options.expected_totals.empty()) {
    if (options.expected_totals.size() != counts.size()) {
      return absl::InvalidArgumentError("expected_totals must have one entry per subset");
    }
    for (size_t i = 0; i < counts.size(); ++i) {
      counts[i].skipped = options.expected_totals[i] - counts[i].total;
      if (counts[i].skipped < 0) {
        return absl::InternalError(absl::StrCat("subset '", counts[i].subset, "' scored ",
                                                counts[i].total, " examples of ",
                                                options.expected_totals[i]));
      }
    }
  }
  return counts;
}

}  // namespace rib::engine
