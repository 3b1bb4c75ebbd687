// The training loop (DESIGN §6): SGD with momentum (or AdamW, config.optimizer), linear
// warm-up then cosine per step, fp32 on CPU, autocast fp16/bf16 with dynamic loss
// scaling on CUDA; seeded and deterministic on CPU; per-epoch atomic checkpoints from
// which a resumed run reproduces the uninterrupted one exactly; data parallel over a
// process group.
//
// Graceful stop: TrainOptions::stop asks the loop to stop at the next step boundary.
// Every rank stops after the same step: each rank's flag travels in the all-reduce the
// loop does anyway at every step (no extra collective), and the job stops after the
// first step at which any rank's flag was set. Rank 0 then checkpoints that step
// boundary (mid-epoch: the step within the epoch and torch's random generator state are
// saved too), so a resumed run reproduces the uninterrupted one exactly, as from an
// epoch checkpoint.
//
// Methods (methods.h) describe what is trained with a TrainSetup; the loop is shared.
// Not thread-safe: one call owns the setup's tensors while it runs (only the stop flag
// may be set from another thread or a signal handler).
#ifndef RIB_WORKER_ENGINE_TRAINER_H_
#define RIB_WORKER_ENGINE_TRAINER_H_

#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "spec/job_spec.h"
#include "worker/engine/batches.h"
#include "worker/engine/collectives.h"
#include "worker/engine/events.h"

namespace rib::dist {
class ProcessGroup;
}  // namespace rib::dist

namespace rib::engine {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct TrainSetup {
  // The tensors the optimiser updates (leaf tensors with requires_grad set).
  NamedTensors trainable;
  // Everything a checkpoint must restore (model parameters and buffers, prompts,
  // adapters); includes the trainable tensors. Names must be unique.
  NamedTensors state;
  // The buffers among `state` (batch-norm running statistics and step counters): before
  // every step's forward pass rank 0's are copied to every rank, as PyTorch DDP's
  // broadcast_buffers does, so the ranks hold one model throughout and every rank
  // evaluates the model rank 0 saves. Optional (then they are made equal at each
  // epoch's end only, with the rest of the untrained state).
  NamedTensors buffers;
  // Forward pass and this rank's mean loss for one batch (images already on device).
  std::function<torch::Tensor(const Batch&)> loss;
  // Puts modules in the right mode before each epoch (train(), or eval() for frozen
  // backbones so batch-norm statistics stay fixed). Optional.
  std::function<void()> set_mode;
  // Called after each optimiser step with that step's learning rate, under NoGrad, on
  // every rank (ewc's proximal penalty step). Optional.
  std::function<void(double lr)> after_step;
};

struct TrainOptions {
  // lr, momentum, weight_decay, epochs, warmup_steps, schedule, precision, seed,
  // max_steps (0 = none). batch_size is the data's business (TrainData).
  TrainingConfig config;
  torch::Device device = torch::kCPU;
  // Directory for checkpoints ("" = none), written by rank 0: <dir>/epoch-<N>.ckpt at
  // the end of epoch N, and <dir>/step-<S>.ckpt when the run stops after step S within
  // an epoch. The run keeps the last two it wrote: checkpoint N is written, then
  // reported (EventSink::OnCheckpoint), and only then is N-2 removed, so the one the
  // coordinator last recorded still exists when the report of N is lost on its way
  // (it travels asynchronously, through the agent). Two lost reports in a row can
  // still leave the coordinator naming a removed file; resuming then starts from the
  // newest checkpoint left in the folder, or from scratch (resume_checkpoint). The
  // resume checkpoint is left alone. Callers give each attempt of a job its own folder
  // (the rank runtime: <job's folder>/attempt-<A>), so two attempts running at once
  // never write the same file.
  std::string checkpoint_dir;
  // Checkpoint to resume from ("" = start fresh): an epoch or a mid-epoch one, including
  // epoch checkpoints written before mid-epoch ones existed. One that cannot be read
  // (missing, truncated, damaged) is not an error: a WARNING names it and why, the
  // other *.ckpt files in its folder are tried, newest first, and when none is
  // readable the run starts from scratch at step 0 with the weights it was given
  // (TrainSummary::resume_problem says why). A readable checkpoint that does not fit
  // the run is an error (FAILED_PRECONDITION, below).
  std::string resume_checkpoint;
  // Set (from any thread or a signal handler) to ask the job to stop at the next step
  // boundary; nullptr = never. Read once per optimiser step, in that step's all-reduce:
  // the run stops after the step during which some rank first saw it set (so at most
  // one step after it is set). Not reset by the loop.
  const std::atomic<bool>* stop = nullptr;
  // nullptr = single process. Otherwise rank 0's state is broadcast first, rank 0's
  // buffers before every step (TrainSetup::buffers), gradients are averaged after
  // backward (collectives.h), reported losses are averaged, and at each epoch's end
  // every rank takes rank 0's untrained state.
  dist::ProcessGroup* group = nullptr;
  // Largest flattened all-reduce of gradients, in bytes (collectives.h). Default: DDP's
  // 25 MiB; smaller buckets mean more, smaller collectives per step.
  int64_t bucket_bytes = kDefaultBucketBytes;
  // Progress events every this many steps (and at each epoch end). EventSink::OnAlive
  // is called after every step regardless.
  int64_t progress_every = 20;
};

struct TrainSummary {
  int64_t steps = 0;         // total optimiser steps done (including resumed ones)
  int epochs_completed = 0;  // epochs fully done
  double last_loss = 0.0;    // mean loss of the last progress window
  // The run stopped on request (TrainOptions::stop) before its last step: the training
  // state at that step boundary is in `checkpoint` (when checkpoint_dir was given), and
  // the run must be resumed from it to finish. Same value on every rank. A request seen
  // in the run's last step does not stop it (training is complete: stopped = false).
  bool stopped = false;
  // Why resume_checkpoint (and the older ones beside it) could not be used, one
  // "<path>: <reason>" per file tried in vain; "" when there was none to resume from or
  // the first one tried was used. When non-empty and `resumed_from` is "", the run
  // started from scratch.
  std::string resume_problem;
  // The checkpoint the run resumed from: resume_checkpoint, an older one beside it, or
  // "" (started from scratch).
  std::string resumed_from;
  // The newest checkpoint of the run as an absolute path: the last one rank 0 wrote
  // (every rank returns that path; when stopped, only once rank 0 has it in place),
  // else the one resumed from (resumed_from); "" when there is none. When stopped, the
  // one to resume from.
  std::string checkpoint;
};

// Runs the loop until config.epochs epochs or config.max_steps steps, or until asked
// to stop (options.stop): returns OK with stopped = true then.
// Errors: INVALID_ARGUMENT for a bad config or a non-finite loss (the message names the
// step and epoch); FAILED_PRECONDITION when the resume checkpoint does not match the
// setup (names, shapes, schedule, epoch length); the status of a failed data read or
// collective; the status of rank 0's failed checkpoint write on every rank when the run
// stops; INTERNAL (RESOURCE_EXHAUSTED when out of memory) for an exception LibTorch
// throws inside a step, "training step <n> of <total> (epoch <e>): <its first line>".
absl::StatusOr<TrainSummary> Train(const TrainSetup& setup, TrainData& data,
                                   const TrainOptions& options, EventSink* sink);

// Total optimiser steps for a config and an epoch length.
int64_t TotalSteps(const TrainingConfig& config, int64_t steps_per_epoch);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_TRAINER_H_
