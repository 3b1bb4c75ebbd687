#include "worker/data/imagenet_classes.h"

#include "absl/container/flat_hash_map.h"

namespace rib::data {

const std::vector<std::string>& ImageNet1kWnids() {
  static const auto* wnids = new std::vector<std::string>{
#include "worker/data/imagenet_1k_wnids.inc"
  };
  return *wnids;
}

int64_t ImageNet1kIndex(absl::string_view wnid) {
  static const auto* index = [] {
    auto* m = new absl::flat_hash_map<std::string, int64_t>;
    const auto& wnids = ImageNet1kWnids();
    for (size_t i = 0; i < wnids.size(); ++i) m->emplace(wnids[i], static_cast<int64_t>(i));
    return m;
  }();
  auto it = index->find(wnid);
  return it == index->end() ? -1 : it->second;
}

}  // namespace rib::data
