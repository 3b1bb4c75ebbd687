// The training loop (DESIGN §6): SGD with momentum (or AdamW, config.optimizer), linear
// warm-up then cosine per step, fp32 on CPU, autocast fp16/bf16 with dynamic loss
// scaling on CUDA; seeded and deterministic on CPU; per-epoch atomic checkpoints from
// which a resumed run reproduces the uninterrupted one exactly; data parallel over a
// process group.
//
// Methods (methods.h) describe what is trained with a TrainSetup; the loop is shared.
// Not thread-safe: one call owns the setup's tensors while it runs.
#ifndef RIB_WORKER_ENGINE_TRAINER_H_
#define RIB_WORKER_ENGINE_TRAINER_H_

#include <torch/torch.h>

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
  // Directory for per-epoch checkpoints ("" = none). Written as
  // <dir>/epoch-<N>.ckpt; the previous epoch's file is removed after the new one
  // is in place.
  std::string checkpoint_dir;
  // Checkpoint to resume from ("" = start fresh).
  std::string resume_checkpoint;
  // nullptr = single process. Otherwise rank 0's state is broadcast first, gradients
  // are averaged after backward (collectives.h), reported losses are averaged, and at
  // each epoch's end every rank takes rank 0's untrained state (batch-norm buffers).
  dist::ProcessGroup* group = nullptr;
  // Largest flattened all-reduce of gradients, in bytes (collectives.h). Default: DDP's
  // 25 MiB; smaller buckets mean more, smaller collectives per step.
  int64_t bucket_bytes = kDefaultBucketBytes;
  // Progress events every this many steps (and at each epoch end).
  int64_t progress_every = 20;
};

struct TrainSummary {
  int64_t steps = 0;         // total optimiser steps done (including resumed ones)
  int epochs_completed = 0;  // epochs fully done
  double last_loss = 0.0;    // mean loss of the last progress window
};

// Runs the loop until config.epochs epochs or config.max_steps steps.
// Errors: INVALID_ARGUMENT for a bad config or a non-finite loss (the message names the
// step and epoch); FAILED_PRECONDITION when the resume checkpoint does not match the
// setup (names, shapes, schedule); the status of a failed data read or collective;
// INTERNAL (RESOURCE_EXHAUSTED when out of memory) for an exception LibTorch throws
// inside a step, "training step <n> of <total> (epoch <e>): <its first line>".
absl::StatusOr<TrainSummary> Train(const TrainSetup& setup, TrainData& data,
                                   const TrainOptions& options, EventSink* sink);

// Total optimiser steps for a config and an epoch length.
int64_t TotalSteps(const TrainingConfig& config, int64_t steps_per_epoch);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_TRAINER_H_
