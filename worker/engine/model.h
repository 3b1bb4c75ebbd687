// The contract between the model zoo (models, weights) and the methods (training,
// evaluation). Every architecture is a Classifier: features → linear head.
#ifndef RIB_WORKER_ENGINE_MODEL_H_
#define RIB_WORKER_ENGINE_MODEL_H_

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "spec/job_spec.h"

namespace rib::engine {

// Images [N, C, H, W] → logits [N, num_classes].
using ForwardFn = std::function<torch::Tensor(const torch::Tensor& images)>;

// Not thread-safe (a torch module): one training loop owns it.
class ClassifierImpl : public torch::nn::Module {
 public:
  // Pre-logit features, [N, feature_dim].
  virtual torch::Tensor Features(const torch::Tensor& images) = 0;
  // Logits from features, [N, num_classes].
  virtual torch::Tensor Head(const torch::Tensor& features) = 0;
  torch::Tensor forward(const torch::Tensor& images) { return Head(Features(images)); }

  // The forward pass for evaluation: the logits of forward() in eval mode, equal up to
  // float rounding, computed with inference kernels where the architecture has them
  // (ResNet: batch norm folded into oneDNN convolutions on CPU; ViT: PyTorch's fused
  // encoder-layer kernel). Build it after the weights are final and eval() is set, and
  // run it without autograd (NoGradGuard or InferenceMode); it is valid until the
  // weights, the device or the mode change. The default is forward() itself.
  virtual ForwardFn Inference();

  // Parameter names (as in named_parameters(), timm/torchvision names) of the head:
  // "head.weight", "head.bias" for ViT; "fc.weight", "fc.bias" for ResNet.
  virtual std::vector<std::string> HeadParameterNames() const = 0;
  // Parameters outside the input embedding's convolution, the blocks and the head:
  // a ViT's cls_token, pos_embed and norm_pre / final norm; none for a ResNet. The
  // reference code trains them in its HeadOnly (lp) and LoRA rows (spec/methods.h).
  virtual std::vector<std::string> EmbeddingParameterNames() const { return {}; }
  virtual int64_t num_classes() const = 0;
  virtual int64_t feature_dim() const = 0;
  // Input image side the model expects (e.g. 224, or 28/32 for FMNIST models).
  virtual int64_t image_size() const = 0;
  virtual int64_t in_channels() const { return 3; }

  // LoRA (DESIGN §6): rank-r adapters on the q and v projections of every attention
  // block, registered as parameters blocks.N.attn.lora_{q,v}_{A,B} (A: [r, D], B: [D, r],
  // B = 0 so the output is unchanged at first). The caller freezes the base weights.
  // FAILED_PRECONDITION for architectures without attention or when already enabled.
  virtual absl::Status EnableLora(int64_t rank, double alpha) {
    return absl::FailedPreconditionError("this architecture has no attention blocks");
  }
  // Folds the adapters into the base weights and removes them.
  virtual absl::Status MergeLora() {
    return absl::FailedPreconditionError("LoRA is not enabled");
  }
};
TORCH_MODULE(Classifier);

// Builds an architecture by name ("vit_tiny_patch16_224", "vit_base_patch16_224",
// "vit_base_patch16_clip_224", "resnet18/34/50/101", "fmnist_vit", "fmnist_resnet"...)
// with freshly initialised weights (seeded by the caller's torch::manual_seed).
// INVALID_ARGUMENT naming the arch when it is unknown.
// A timm pretrained tag after a dot ("vit_base_patch16_224.augreg_in21k") is ignored, and
// any vit_{tiny,small,base,large,huge}_patch<P>[_clip]_<S> name is accepted.
absl::StatusOr<Classifier> CreateModel(const std::string& arch, int64_t num_classes);

// The architecture names CreateModel lists in its error message (the fixed table).
std::vector<std::string> KnownArchs();

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_MODEL_H_
