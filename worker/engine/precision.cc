#include "worker/engine/precision.h"

#include <ATen/autocast_mode.h>

#include "absl/strings/str_cat.h"

namespace rib::engine {

absl::StatusOr<Precision> ResolvePrecision(const std::string& precision,
                                           const torch::Device& device) {
  if (precision != "auto" && precision != "fp32" && precision != "fp16" &&
      precision != "bf16") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown precision '", precision, "' (expected auto, fp32, fp16 or bf16)"));
  }
  Precision p;
  if (!device.is_cuda() || precision == "fp32") return p;
  p.autocast = true;
  p.dtype = precision == "bf16" ? at::kBFloat16 : at::kHalf;
  p.loss_scaling = p.dtype == at::kHalf;
  return p;
}

absl::StatusOr<Precision> ResolveEvalPrecision(const std::string& precision,
                                               const torch::Device& device) {
  return ResolvePrecision(precision == "auto" ? "fp32" : precision, device);
}

AutocastScope::AutocastScope(const Precision& precision) : enabled_(precision.autocast) {
  if (!enabled_) return;
  at::autocast::set_autocast_gpu_dtype(precision.dtype);
  at::autocast::set_enabled(true);
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
  at::autocast::set_enabled(false);
  at::autocast::clear_cache();
}

bool LossScaler::UnscaleAndCheck(const std::vector<torch::Tensor>& params) {
  if (!enabled_) return true;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  bool finite = true;
  if (!grads.empty()) {
    torch::NoGradGuard no_grad;
    torch::_foreach_mul_(grads, 1.0 / scale_);
    std::vector<torch::Tensor> all_finite;
    all_finite.reserve(grads.size());
    for (const auto& g : grads) all_finite.push_back(g.isfinite().all());
    finite = torch::stack(all_finite).all().item<bool>();  // the one synchronisation
  }
  if (finite) {
    if (++good_steps_ >= growth_interval_) scale_ *= 2.0, good_steps_ = 0;
  } else {
    scale_ *= 0.5, good_steps_ = 0;
  }
  return finite;
}

}  // namespace rib::engine
