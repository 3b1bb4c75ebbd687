// SplitDataset: seeded, stratified, grouped train/test splits (DESIGN §4.1).
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "worker/data/rng.h"
#include "worker/data/source.h"

namespace rib::data {
namespace {

// A photo is in test when a uniform draw seeded by (seed, photo) falls below
// test_fraction: a rule that needs nothing but the photo, so every dataset that holds a
// rendering of it agrees. Per class the test count is then binomial around
// test_fraction * n rather than exactly round(test_fraction * n).
bool PhotoInTest(const std::string& photo, const DatasetOptions& options) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a of the name: the stream of the draw
  for (unsigned char c : photo) h = (h ^ c) * 0x100000001b3ULL;
  internal::Rng rng(static_cast<uint64_t>(options.seed), h);
  return rng.Uniform() < options.test_fraction;
}

}  // namespace

std::vector<std::string> DatasetSource::subsets() const {
  std::vector<std::string> out;
  std::unordered_map<std::string, bool> seen;
  for (const auto& e : examples()) {
    if (!e.subset.empty() && seen.emplace(e.subset, true).second) out.push_back(e.subset);
  }
  return out;
}

absl::StatusOr<Split> SplitDataset(const DatasetSource& source,
                                   const DatasetOptions& options) {
  const auto& examples = source.examples();
  Split split;
  if (options.split == "reference") {
    split.train = examples;
    split.test = examples;
    return split;
  }
  if (options.split != "heldout") {
    return absl::InvalidArgumentError(absl::StrCat(
        "split must be 'heldout' or 'reference', got '", options.split, "'"));
  }
  if (!(options.test_fraction >= 0.0 && options.test_fraction <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("test_fraction must be in [0, 1], got ", options.test_fraction));
  }
  // Groups in first-seen order; an example without a group is its own group. A group
  // belongs to the stratum of its first example's label.
  std::unordered_map<std::string, int64_t> group_id;
  std::vector<int64_t> example_group(examples.size());
  std::map<int64_t, std::vector<int64_t>> groups_by_label;
  for (size_t i = 0; i < examples.size(); ++i) {
    const Example& e = examples[i];
    const std::string key =
        e.group.empty() ? absl::StrCat("#", i) : absl::StrCat("g", e.group);
    auto [it, inserted] = group_id.emplace(key, static_cast<int64_t>(group_id.size()));
    if (inserted && e.photo.empty()) groups_by_label[e.label].push_back(it->second);
    example_group[i] = it->second;
  }
  std::vector<char> in_test(group_id.size(), 0);
  for (size_t i = 0; i < examples.size(); ++i) {
    // Renderings of ImageNet val photos: the same photo, the same side, whichever
    // dataset (imagenet-val, every imagenet-c subset, -cartoon, -drawing) holds it.
    if (!examples[i].photo.empty())
      in_test[example_group[i]] = PhotoInTest(examples[i].photo, options);
  }
  for (auto& [label, groups] : groups_by_label) {
    internal::Rng rng(static_cast<uint64_t>(options.seed),
                      0x5EED0000ULL + static_cast<uint64_t>(label));
    rng.Shuffle(groups);
    const auto n_test =
        static_cast<size_t>(std::llround(options.test_fraction * groups.size()));
    for (size_t k = 0; k < n_test && k < groups.size(); ++k) in_test[groups[k]] = 1;
  }
  for (size_t i = 0; i < examples.size(); ++i) {
    (in_test[example_group[i]] ? split.test : split.train).push_back(examples[i]);
  }
  return split;
}

std::vector<Example> EvaluationSet(const DatasetSource& eval, const Split& eval_split,
                                   const TrainedOn& trained,
                                   const DatasetOptions& options) {
  if (options.split != "heldout" || eval.key() == trained.dataset) return eval_split.test;
  std::unordered_set<std::string> trained_sources;
  bool trained_unknown = false;
  for (const Example& e : trained.train) {
    if (e.source == kUnknownSource) {
      trained_unknown = true;
    } else if (!e.source.empty()) {
      trained_sources.insert(e.source);
    }
  }
  std::unordered_set<int64_t> in_test;
  for (const Example& e : eval_split.test) in_test.insert(e.index);
  std::vector<Example> out;
  for (const Example& e : eval.examples()) {
    bool keep = true;
    if (e.source == kUnknownSource) {
      keep = in_test.count(e.index) > 0;
    } else if (!e.source.empty()) {
      // A photo may have been trained on under a name that cannot be read: then only
      // the photos that the split holds out from every rendering are safe.
      keep = trained_unknown ? in_test.count(e.index) > 0
                             : trained_sources.count(e.source) == 0;
    }
    if (keep) out.push_back(e);
  }
  return out;
}

}  // namespace rib::data
