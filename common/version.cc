#include "common/version.h"

#include "absl/strings/str_cat.h"
#include "common/build_info.h"  // generated into the build tree by cmake/build_info.cmake

namespace rib {

BuildInfo CurrentBuildInfo() {
  BuildInfo info;
  info.version = build_info::kVersion;
  info.git_commit = build_info::kGitCommit;
  info.torch_version = build_info::kTorchVersion;
  info.with_cuda = build_info::kWithCuda;
  return info;
}

std::string VersionText(absl::string_view program) {
  return VersionText(program, CurrentBuildInfo());
}

std::string VersionText(absl::string_view program, const BuildInfo& info) {
  return absl::StrCat(program, " ", info.version, "\ncommit ", info.git_commit,
                      "\nLibTorch ", info.torch_version, "\nCUDA ",
                      info.with_cuda ? "yes" : "no", "\n");
}

}  // namespace rib
