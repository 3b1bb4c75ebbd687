// One benchmark cell, end to end: load the model, prepare the method's starting
// weights (dependencies), fine-tune on the job's dataset (train split), evaluate on
// every eval dataset (test split) and report as it goes. What the worker's rank
// processes and rib-run call.
//
// Graceful stop (RunOptions::stop): training stops at the next step boundary with a
// checkpoint (trainer.h), evaluation between two eval datasets; every rank stops at
// the same place. RunJob then returns OK with RunResult::stopped, and the job is
// finished by running it again with resume_checkpoint = RunResult::checkpoint.
//
// Thread-compatible: one job per call; the call sets torch's global seed and the
// process's compute threads (threads.h: RunOptions::threads, split by the model's
// policy).
#ifndef RIB_WORKER_ENGINE_RUNNER_H_
#define RIB_WORKER_ENGINE_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/robustness.h"
#include "spec/job_spec.h"
#include "worker/engine/events.h"

namespace rib::dist {
class ProcessGroup;
}  // namespace rib::dist

namespace rib::engine {

struct RunOptions {
  // Root of the datasets (DESIGN §4). Required when the job reads data.
  std::string data_root;
  // Root of the job's inputs (model and dependency weights): relative paths resolve
  // under it, absolute ones must lie inside it; "" = paths used as given.
  std::string artifact_root;
  // Where rank 0 writes the job's final weights (not for `pre`), and the tensors that
  // belong beside them (vp's prompt). The caller names them, from the spec's artifact
  // layout and the job's hash (spec::JobOutputPaths), so the files are where dependent
  // jobs look without renaming. "" = not written. Their folder is created.
  std::string weights_out;
  std::string extra_weights_out;
  // "cpu", "cuda" or "cuda:N".
  std::string device = "cpu";
  // Compute threads (SetCpuThreads with the model's policy) and data-decoding threads;
  // 0 = all hardware threads.
  int threads = 0;
  // nullptr = single process; otherwise this rank's group (data and evaluation are
  // sharded, gradients averaged, counts summed).
  dist::ProcessGroup* group = nullptr;
  // Resume training from this checkpoint ("" = start fresh). One that is missing or
  // cannot be read is not an error: the job starts from an older checkpoint beside it,
  // or from scratch, with a WARNING (trainer.h's TrainOptions::resume_checkpoint).
  std::string resume_checkpoint;
  // Where per-epoch checkpoints, and the one written when training stops on request,
  // go ("" = none: a stopped job then has nothing to resume from). Created if missing.
  std::string checkpoint_dir;
  // Set (from any thread or a signal handler) to ask the job to stop at the next step
  // boundary; nullptr = never. Training reads it once per step (trainer.h), evaluation
  // before each eval dataset; ranks agree through their collectives, so a flag set on
  // any one rank stops all of them at the same place.
  const std::atomic<bool>* stop = nullptr;
  // Method name → final weights of the job this one depends on (lpft: lp, wise-ft: ft,
  // soup: each member).
  std::map<std::string, std::string> dependency_weights;
  // The node's evaluation cache (worker/data/eval_cache.h): its folder, "" = none (every
  // evaluation decodes its images); the bound on its size in bytes, 0 = that header's
  // default. Building an entry decodes with `threads` threads.
  std::string eval_cache_root;
  int64_t eval_cache_max_bytes = 0;
};


struct RunResult {
  // The weights this job's results are for: options.weights_out once written, or the
  // input weights for `pre` and when weights_out is ""; "" when training stopped.
  std::string weights_path;
  std::vector<ResultRow> results;  // common/robustness.h
  int64_t steps = 0;
  double final_loss = 0.0;
  // The job stopped on request (RunOptions::stop) and must be resumed from
  // `checkpoint` to finish. Stopped during training: the training state was
  // checkpointed at that step boundary, no final weights were written and `results` is
  // empty. Stopped during evaluation: the final weights were written (weights_path) and
  // `results` holds the eval datasets done before the stop; the resumed job trains no
  // further and evaluates every dataset again. Same value on every rank.
  bool stopped = false;
  // The job's newest training checkpoint, as an absolute path (trainer.h's
  // TrainSummary::checkpoint): when stopped in training, the one written at the stop;
  // in evaluation, the final epoch's. "" when options.checkpoint_dir was empty (and no
  // resume_checkpoint was given) or the method does not train.
  std::string checkpoint;
};

// Returns OK with stopped = true when asked to stop (RunOptions::stop).
// Inputs (model and dependency weights, the resume checkpoint) are opened with
// common/paths.h's OpenUnder when artifact_root is set: confined to it, through
// symlinks too, and regular files only. Model weights whose sha256 differs from
// spec.model.weights_digest (when set) are not loaded.
// Errors: INVALID_ARGUMENT (bad spec, method params, device, a path outside the
// artifact root by "..", an input that is not a regular file), PERMISSION_DENIED (an
// input resolving outside the artifact root through a symlink), NOT_FOUND (dataset or
// weights missing), FAILED_PRECONDITION (missing dependency weights, weights that do
// not fit the architecture or changed since submit, an image size the model does not
// take, a readable resume checkpoint of another run), the loop's errors
// (non-finite loss with its step), UNAVAILABLE from a collective.
absl::StatusOr<RunResult> RunJob(const JobSpec& spec, const RunOptions& options,
                                 EventSink* sink);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_RUNNER_H_
