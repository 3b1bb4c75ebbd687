// The artifact path layout: where a job's outputs live under an artifact root, named by
// the job's hash (spec/job_json.h). The one place that spells these paths: the agent
// computes a job's outputs from the coordinator's hash and hands them to the engine,
// dependent jobs find their inputs the same way, rib-run uses the same layout under
// its --out folder.
//
//   <root>/weights/<hash>.safetensors        final weights (every job but pre)
//   <root>/weights/<hash>.extra.safetensors  tensors beside them (vp's "prompt")
//   <root>/checkpoints/<hash>/               per-epoch checkpoints (resumable)
//   <root>/runs/<job id>/attempt-<n>/        one attempt's job file, logs, marker
//   <root>/hf-hub/models--<org>--<name>/...  the coordinator's Hugging Face hub cache
//                                            (--hf-cache) mirrored for the workers
//                                            (spec/hf_hub.h); read, never written
//
// Thread-safety: pure functions; thread-safe. No I/O: nothing is created or checked.
#ifndef RIB_SPEC_ARTIFACTS_H_
#define RIB_SPEC_ARTIFACTS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace rib::spec {

// The paths one job writes.
struct JobOutputs {
  std::string weights;         // <root>/weights/<hash>.safetensors
  std::string extra_weights;   // <root>/weights/<hash>.extra.safetensors
  std::string checkpoint_dir;  // <root>/checkpoints/<hash>
};

JobOutputs JobOutputPaths(absl::string_view root, absl::string_view hash);
// <root>/weights: the folder every job's weights go to.
std::string WeightsDir(absl::string_view root);
// <root>/weights/<hash>.safetensors: a job's final weights, where its dependents read
// them.
std::string WeightsPath(absl::string_view root, absl::string_view hash);
// <root>/runs: the default folder of attempts' run directories.
std::string RunsDir(absl::string_view root);
// hf-hub/<cache_relative>: where workers find a file of the coordinator's hub cache,
// relative to their artifact root (the form a job spec's weights path takes).
std::string HubMirrorPath(absl::string_view cache_relative);
// <runs_dir>/<job id>/attempt-<n>.
std::string AttemptDir(absl::string_view runs_dir, absl::string_view job_id, int attempt);

}  // namespace rib::spec

#endif  // RIB_SPEC_ARTIFACTS_H_
