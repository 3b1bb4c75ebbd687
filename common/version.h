// What a rib binary was built from, for `--version` on every binary and the CLI.
// Thread-safe (constant data).
#ifndef RIB_COMMON_VERSION_H_
#define RIB_COMMON_VERSION_H_

#include <string>

#include "absl/strings/string_view.h"

namespace rib {

struct BuildInfo {
  std::string version;        // rib's release, from CMakeLists.txt's project() VERSION
  std::string git_commit;     // 12 hex digits, "-dirty" if tracked files had changes;
                              // "unknown" when built outside a git checkout
  std::string torch_version;  // the LibTorch the build found (workers link it)
  bool with_cuda = false;     // CUDA (autocast, ProcessGroupNCCL) compiled in
};

// This build's facts, fixed when it was built.
BuildInfo CurrentBuildInfo();

// The --version text, one fact per line:
//   rib-worker 0.1.0
//   commit 0f3fcf9c1a2b
//   LibTorch 1.13.0
//   CUDA no
std::string VersionText(absl::string_view program);
std::string VersionText(absl::string_view program, const BuildInfo& info);

}  // namespace rib

#endif  // RIB_COMMON_VERSION_H_
