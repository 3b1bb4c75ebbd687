#include "spec/artifacts.h"

#include "absl/strings/str_cat.h"

namespace rib::spec {

std::string WeightsDir(absl::string_view root) { return absl::StrCat(root, "/weights"); }

std::string WeightsPath(absl::string_view root, absl::string_view hash) {
  return absl::StrCat(WeightsDir(root), "/", hash, ".safetensors");
}

JobOutputs JobOutputPaths(absl::string_view root, absl::string_view hash) {
  JobOutputs out;
  out.weights = WeightsPath(root, hash);
  out.extra_weights = absl::StrCat(WeightsDir(root), "/", hash, ".extra.safetensors");
  out.checkpoint_dir = absl::StrCat(root, "/checkpoints/", hash);
  return out;
}

std::string RunsDir(absl::string_view root) { return absl::StrCat(root, "/runs"); }

std::string HubMirrorPath(absl::string_view cache_relative) {
  return absl::StrCat("hf-hub/", cache_relative);
}

std::string AttemptDir(absl::string_view runs_dir, absl::string_view job_id,
                       int attempt) {
  return absl::StrCat(runs_dir, "/", job_id, "/attempt-", attempt);
}

}  // namespace rib::spec
