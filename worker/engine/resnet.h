// ResNet with torchvision's parameter names (torchvision/models/resnet.py), so
// torchvision and timm ResNet checkpoints load without renaming:
//
//   conv1 bn1 layerL.B.{conv1,bn1,conv2,bn2[,conv3,bn3]} layerL.0.downsample.{0,1} fc
//
// BatchNorm buffers (running_mean, running_var, num_batches_tracked) are part of the
// saved state. The small configurations for 32×32 inputs use a 3×3 stride-1 stem and no
// max-pool (CIFAR style) with the same names.
//
// Inference() (evaluation) folds every batch norm into its convolution and, on CPU, keeps
// activations in oneDNN's blocked layout from the stem to the pooling.
//
// Not thread-safe (a torch module).
#ifndef RIB_WORKER_ENGINE_RESNET_H_
#define RIB_WORKER_ENGINE_RESNET_H_

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "worker/engine/model.h"

namespace rib::engine {

struct ResNetConfig {
  bool bottleneck = false;                  // Bottleneck (50/101) or BasicBlock (18/34)
  std::vector<int64_t> layers = {2, 2, 2, 2};  // blocks per stage
  std::vector<int64_t> widths = {64, 128, 256, 512};  // stage widths (before expansion)
  int64_t stem_width = 64;
  // ImageNet stem: 7×7 stride-2 conv + 3×3 stride-2 max-pool. Small stem: 3×3 stride 1.
  bool small_stem = false;
  int64_t in_channels = 3;
  int64_t image_size = 224;
  int64_t num_classes = 1000;
};

namespace internal {

// bn(conv(x)); in evaluation mode computed as one convolution with the BatchNorm folded in.
torch::Tensor ConvBn(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn,
                     const torch::Tensor& x);

// A convolution with its (evaluation-mode) BatchNorm folded in, prepared once for
// inference. With `mkldnn` the weight is in oneDNN's blocked layout and Run() takes and
// returns oneDNN (to_mkldnn) tensors.
struct FoldedConv {
  torch::Tensor weight, bias;
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups = 1;
  bool mkldnn = false;
  torch::Tensor Run(const torch::Tensor& x) const;
};
FoldedConv FoldConvBn(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn, bool mkldnn);

// A residual block's inference form (ResidualBlockImpl::Fold).
struct FoldedBlock {
  bool bottleneck = false;
  FoldedConv conv1, conv2, conv3;  // conv3 only for bottlenecks
  std::optional<FoldedConv> downsample;
  torch::Tensor Run(const torch::Tensor& x) const;
};

class ResidualBlockImpl : public torch::nn::Module {
 public:
  ResidualBlockImpl(bool bottleneck, int64_t in_planes, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);
  FoldedBlock Fold(bool mkldnn);
  static int64_t Expansion(bool bottleneck) { return bottleneck ? 4 : 1; }

 private:
  bool bottleneck_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential downsample_{nullptr};  // (down_conv_, down_bn_), for the names
  torch::nn::Conv2d down_conv_{nullptr};
  torch::nn::BatchNorm2d down_bn_{nullptr};
};
TORCH_MODULE(ResidualBlock);

}  // namespace internal

class ResNetImpl : public ClassifierImpl {
 public:
  explicit ResNetImpl(const ResNetConfig& config);

  torch::Tensor Features(const torch::Tensor& images) override;
  torch::Tensor Head(const torch::Tensor& features) override;
  std::vector<std::string> HeadParameterNames() const override {
    return {"fc.weight", "fc.bias"};
  }
  int64_t num_classes() const override { return config_.num_classes; }
  int64_t feature_dim() const override { return feature_dim_; }
  int64_t image_size() const override { return config_.image_size; }
  int64_t in_channels() const override { return config_.in_channels; }
  // Batch norm folded into every convolution, run on oneDNN tensors on CPU (float32):
  // what torch.jit.optimize_for_inference does to a torchvision ResNet.
  ForwardFn Inference() override;

  const ResNetConfig& config() const { return config_; }

 private:
  ResNetConfig config_;
  int64_t feature_dim_ = 0;
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  std::vector<torch::nn::Sequential> stages_;
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ResNet);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_RESNET_H_
