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
                          std::vector<SubsetCount>* counts, std::vector<char>* right) {
  if (counts->empty()) *counts = EmptyCounts(subsets);
  torch::Tensor correct = mask.Correct(logits, labels).to(torch::kCPU);
  auto acc = correct.accessor<bool, 1>();
  for (int64_t i = 0; i < correct.size(0); ++i) {
    const std::string& subset =
        i < static_cast<int64_t>(example_subsets.size()) ? example_subsets[i] : "";
    RIB_ASSIGN_OR_RETURN(size_t k, SubsetIndex(subsets, subset));
    (*counts)[k].total += 1;
    (*counts)[k].correct += acc[i] ? 1 : 0;
    if (right != nullptr) right->push_back(acc[i] ? 1 : 0);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SubsetCount>> Evaluate(const ForwardFn& forward,
                                                  BatchStream& stream,
                                                  const LabelMask& mask,
                                                  const EvaluateOptions& options) {
  std::vector<SubsetCount> counts = EmptyCounts(options.subsets);
  const bool record = !options.bit_position.empty();
  if (record && options.expected_totals.size() != counts.size()) {
    return absl::InvalidArgumentError(
        "per-image bits need expected_totals, one entry per subset");
  }
  if (record && !options.bit_sizes.empty() && options.bit_sizes.size() != counts.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "per-image bits: ", options.bit_sizes.size(), " bit sizes for ", counts.size(),
        " subsets"));
  }
  const std::vector<int64_t>& sizes =
      options.bit_sizes.empty() ? options.expected_totals : options.bit_sizes;
  // Packed 64 images to a word, the right ones then the scored ones: each image is
  // scored on one rank only, so the cross-rank sum of the words is their OR.
  std::vector<int64_t> word_offset;
  int64_t words = 0;
  if (record) {
    for (int64_t size : sizes) {
      word_offset.push_back(words);
      words += (size + 63) / 64;
    }
  }
  torch::Tensor bits = torch::zeros({2 * words}, torch::kLong);
  int64_t* bit_words = bits.data_ptr<int64_t>();
  int64_t* scored_words = bit_words + words;
  std::vector<char> right;
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
    right.clear();
    RIB_RETURN_IF_ERROR(CountCorrect(logits, batch.labels, batch.subsets, mask,
                                     options.subsets, &counts,
                                     record ? &right : nullptr));
    if (!record) continue;
    if (batch.indices.size() != right.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("per-image bits: a batch of ", right.size(), " has ",
                       batch.indices.size(), " example indices"));
    }
    for (size_t i = 0; i < right.size(); ++i) {
      const int64_t index = batch.indices[i];
      const int64_t pos =
          index >= 0 && index < static_cast<int64_t>(options.bit_position.size())
              ? options.bit_position[index]
              : -1;
      const std::string& subset = i < batch.subsets.size() ? batch.subsets[i] : "";
      RIB_ASSIGN_OR_RETURN(size_t k, SubsetIndex(options.subsets, subset));
      if (pos < 0 || pos >= sizes[k]) {
        return absl::InvalidArgumentError(absl::StrCat(
            "per-image bits: example ", index, " has no position in subset '", subset,
            "' of ", sizes[k], " images"));
      }
      const int64_t bit = static_cast<int64_t>(uint64_t{1} << (pos % 64));
      if (scored_words[word_offset[k] + pos / 64] & bit) {
        return absl::InvalidArgumentError(absl::StrCat(
            "per-image bits: example ", index, " of subset '", subset,
            "' was scored twice"));
      }
      scored_words[word_offset[k] + pos / 64] |= bit;
      if (right[i]) bit_words[word_offset[k] + pos / 64] |= bit;
    }
  }
  // Sum across ranks: [S, 3] int64.
  torch::Tensor packed = torch::zeros({static_cast<int64_t>(counts.size()), 3}, torch::kLong);
  for (size_t i = 0; i < counts.size(); ++i) {
    packed[i][0] = counts[i].correct;
    packed[i][1] = counts[i].total;
    packed[i][2] = counts[i].skipped;
  }
  RIB_RETURN_IF_ERROR(AllReduceSum(options.group, {packed}));
  if (record) {
    if (words > 0) RIB_RETURN_IF_ERROR(AllReduceSum(options.group, {bits}));
    const int64_t* w = bits.data_ptr<int64_t>();
    const auto unpack = [&](const int64_t* from, size_t k, std::string* out) {
      const int64_t n = sizes[k];
      int64_t set = 0;
      out->assign(static_cast<size_t>((n + 7) / 8), '\0');
      for (int64_t b = 0; b < n; ++b) {
        if ((static_cast<uint64_t>(from[word_offset[k] + b / 64]) >> (b % 64)) & 1) {
          (*out)[b >> 3] = static_cast<char>((*out)[b >> 3] | (1 << (b & 7)));
          ++set;
        }
      }
      return set;
    };
    for (size_t k = 0; k < counts.size(); ++k) {
      unpack(w, k, &counts[k].correct_bits);
      // "" when every bit's image was scored (robustness_bootstrap.h's "all").
      if (unpack(w + words, k, &counts[k].evaluated_bits) == sizes[k])
        counts[k].evaluated_bits.clear();
    }
  }
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
