// A Hugging Face hub cache written at test time, in the layout huggingface_hub writes
// (spec/hf_hub.h): refs/<ref> holding the commit, snapshots/<commit>/model.safetensors
// as a relative symlink to ../../blobs/<name>, and an optional config.json. Header-only
// so that any test binary can use it without a link dependency.
#ifndef RIB_TESTS_TESTING_HUB_CACHE_H_
#define RIB_TESTS_TESTING_HUB_CACHE_H_

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

namespace rib::testing {

struct HubSnapshotFiles {
  std::string commit;                     // 40 hex
  std::string weights;                    // model.safetensors' bytes
  std::optional<std::string> config_json; // absent: no config.json
};

// Writes `snapshot` of models--<org>--<name> under `cache` and points each of `refs`
// (e.g. {"main"}) at it. Returns the snapshot's model.safetensors path.
inline std::string WriteHubSnapshot(const std::string& cache, const std::string& org,
                                    const std::string& name, const HubSnapshotFiles& snapshot,
                                    std::initializer_list<std::string> refs = {"main"}) {
  namespace fs = std::filesystem;
  const fs::path repo = fs::path(cache) / ("models--" + org + "--" + name);
  const fs::path dir = repo / "snapshots" / snapshot.commit;
  fs::create_directories(dir);
  fs::create_directories(repo / "blobs");
  fs::create_directories(repo / "refs");
  const std::string blob = "weights-" + snapshot.commit;
  std::ofstream(repo / "blobs" / blob, std::ios::binary) << snapshot.weights;
  fs::remove(dir / "model.safetensors");
  fs::create_symlink(fs::path("../../blobs") / blob, dir / "model.safetensors");
  if (snapshot.config_json) {
    std::ofstream(dir / "config.json", std::ios::binary) << *snapshot.config_json;
  }
  for (const std::string& ref : refs) {
    std::ofstream(repo / "refs" / ref) << snapshot.commit;  // no newline, as the hub
  }
  return (dir / "model.safetensors").string();
}

}  // namespace rib::testing

#endif  // RIB_TESTS_TESTING_HUB_CACHE_H_
