// The fine-tuning methods of DESIGN §6 as TrainSetups for the shared loop, plus the
// weight-space methods (wise-ft, soup) as pure functions on weight maps.
//
//   ft, lpft  every parameter (lpft from lp's weights); CE on the masked logits
//   lp        the head (backbone in eval); CE
//   lora      rank-r q/v adapters (base in eval); CE
//   vp        a border prompt on the input; CE
//   lwf       every parameter; CE + α·KL(p_pre/T ‖ p/T)
//   ewc       every parameter; CE + λ/2 Σ F (θ−θ_pre)² (the penalty as a proximal step
//             after each SGD step: stable at any λ·F); F from EstimateFisher on
//             MethodContext::fisher_data
//   l2sp      every parameter; CE + λ Σ (θ−θ_pre)²
//   wise-ft, soup, pre: no training (see InterpolateWeights / AverageWeights).
// Which kinds exist, which train, and their parameters with ranges and defaults are
// the spec module's catalog (spec/methods.h); this file reads parameters through it.
//
// Not thread-safe: a TrainingMethod owns its model while the job runs.
#ifndef RIB_WORKER_ENGINE_METHODS_H_
#define RIB_WORKER_ENGINE_METHODS_H_

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "spec/job_spec.h"
#include "worker/engine/batches.h"
#include "worker/engine/checkpoint.h"
#include "worker/engine/evaluate.h"
#include "worker/engine/label_mask.h"
#include "worker/engine/model.h"
#include "worker/engine/trainer.h"

namespace rib::dist {
class ProcessGroup;
}  // namespace rib::dist

namespace rib::engine {

// A model's parameters and buffers by name (the tensors themselves, not copies).
TensorMap ModelWeights(ClassifierImpl& model);
// Deep copy (detached, cloned).
TensorMap CloneWeights(const TensorMap& weights);
// Copies `weights` into the model in place. FAILED_PRECONDITION naming the first
// missing, unexpected or mis-shaped tensor.
absl::Status LoadWeights(ClassifierImpl& model, const TensorMap& weights);
// (1−α)·a + α·b for floating tensors (integer buffers such as BN's step counters come
// from the nearer endpoint: a when α < 0.5, else b). INVALID_ARGUMENT when the names
// or shapes differ.
absl::StatusOr<TensorMap> InterpolateWeights(const TensorMap& a, const TensorMap& b,
                                             double alpha);
// The element-wise mean of the floating tensors (integers from the first map).
absl::StatusOr<TensorMap> AverageWeights(const std::vector<TensorMap>& members);

struct MethodContext {
  // The starting model (pre-trained weights; lp's for lpft), trained in place.
  Classifier model{nullptr};
  // The fine-tune dataset's label space.
  LabelMask mask = LabelMask::Identity(1);
  // A fresh model of the same architecture (weights are overwritten): lwf's teacher.
  std::function<absl::StatusOr<Classifier>()> new_model;
  // ewc (lambda > 0): this rank's shard of the Fisher sample (runner.cc: a seeded sample
  // of spec::EwcFisherDataset's train split; the shards of all ranks are disjoint and
  // together the whole sample), read once in Create, and that dataset's label space.
  // Not owned.
  BatchStream* fisher_data = nullptr;
  LabelMask fisher_mask = LabelMask::Identity(1);
  torch::Device device = torch::kCPU;
  dist::ProcessGroup* group = nullptr;
  // The job's seed: vp draws its initial prompt from it.
  uint64_t seed = 0;
};

class TrainingMethod {
 public:
  // Prepares the model for `spec.kind` (freezes parameters, adds adapters or prompts,
  // snapshots θ_pre, estimates the Fisher for ewc). INVALID_ARGUMENT for a kind that
  // does not train or bad params (spec::ValidateMethod's message); FAILED_PRECONDITION
  // when the architecture cannot take the method (lora on a ResNet).
  static absl::StatusOr<std::unique_ptr<TrainingMethod>> Create(const MethodSpec& spec,
                                                                MethodContext context);
  virtual ~TrainingMethod() = default;

  const TrainSetup& setup() const { return setup_; }
  // Forward pass for evaluation after training (vp adds its prompt). Call Finish()
  // first.
  virtual ForwardFn EvalForward();
  // Ends training: lora merges its adapters into the base weights; the model is put in
  // eval mode.
  virtual absl::Status Finish();
  // Tensors that belong to the result besides the model's weights ("prompt" for vp).
  virtual TensorMap ExtraWeights() { return {}; }

  Classifier& model() { return context_.model; }

 protected:
  explicit TrainingMethod(MethodContext context) : context_(std::move(context)) {}
  MethodContext context_;
  TrainSetup setup_;
};

// The diagonal empirical Fisher of `params` at their current values: the sum over this
// rank's examples in `stream` of the squared gradient of each example's own masked
// cross-entropy (micro-batch 1), all-reduced over `group` as a sum and divided by the
// global number of examples. `logits_of` must not depend on batch composition (a model
// in eval mode), so the result is the same for any sharding of the examples over any
// number of ranks, up to the order of the float sums. fp32 tensors shaped as `params`
// (zero where an example's loss does not reach a parameter). Costs one forward and one
// backward pass per example. INVALID_ARGUMENT when no rank had an example; a read's or
// a collective's error.
absl::StatusOr<std::vector<torch::Tensor>> EstimateFisher(
    const ForwardFn& logits_of, const NamedTensors& params, BatchStream& stream,
    const LabelMask& mask, torch::Device device, dist::ProcessGroup* group);

// Applies vp's learned prompt (as saved under "prompt") in front of a model.
ForwardFn PromptedForward(Classifier model, torch::Tensor prompt);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_METHODS_H_
