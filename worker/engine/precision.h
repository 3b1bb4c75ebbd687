// Mixed precision (DESIGN §6): which autocast a job's `training.precision` means on a
// device, the autocast scope, and dynamic loss scaling for fp16 (the recipe of
// torch.cuda.amp.GradScaler).
//
// fp32 on CPU always (Debian's libtorch 1.13 has no usable CPU autocast for LayerNorm
// models); on CUDA "auto" and "fp16" autocast to fp16 with loss scaling, "bf16" to bf16
// without (bf16 has fp32's exponent range).
#ifndef RIB_WORKER_ENGINE_PRECISION_H_
#define RIB_WORKER_ENGINE_PRECISION_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace rib::engine {

struct Precision {
  bool autocast = false;
  at::ScalarType dtype = at::kFloat;  // autocast's dtype (kFloat when off)
  bool loss_scaling = false;
};

// INVALID_ARGUMENT naming the value for anything but auto, fp32, fp16 or bf16.
absl::StatusOr<Precision> ResolvePrecision(const std::string& precision,
                                           const torch::Device& device);

// The precision evaluation runs in: "auto" is fp32 everywhere (the reference code
// evaluates in fp32; autocast is a training speed-up, and fp16 logits can flip close
// top-1 calls), an explicit fp16 / bf16 autocasts as in training, fp32 is fp32.
// INVALID_ARGUMENT as ResolvePrecision.
absl::StatusOr<Precision> ResolveEvalPrecision(const std::string& precision,
                                               const torch::Device& device);

// CUDA autocast to precision.dtype for the scope's lifetime (no-op when
// precision.autocast is false). Not nestable; one per thread at a time.
class AutocastScope {
 public:
  explicit AutocastScope(const Precision& precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_;
};

// Dynamic loss scaling: multiply the loss by scale() before backward, then
// UnscaleAndCheck() divides the gradients back and says whether the step may be taken.
// A step with any non-finite gradient is skipped and halves the scale; growth_interval
// good steps in a row double it. Disabled, it is the identity and never skips.
class LossScaler {
 public:
  static constexpr double kInitialScale = 65536.0;
  static constexpr int64_t kGrowthInterval = 2000;

  explicit LossScaler(bool enabled, int64_t growth_interval = kGrowthInterval)
      : enabled_(enabled), growth_interval_(growth_interval) {}
  torch::Tensor Scale(const torch::Tensor& loss) const {
    return enabled_ ? loss * scale_ : loss;
  }
  // Unscales the defined gradients of `params` in place with one device synchronisation;
  // false when the step must be skipped.
  bool UnscaleAndCheck(const std::vector<torch::Tensor>& params);
  double scale() const { return scale_; }
  int64_t good_steps() const { return good_steps_; }
  void Restore(double scale, int64_t good_steps) {
    scale_ = scale, good_steps_ = good_steps;
  }

 private:
  bool enabled_;
  int64_t growth_interval_;
  double scale_ = kInitialScale;
  int64_t good_steps_ = 0;
};

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_PRECISION_H_
