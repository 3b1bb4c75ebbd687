#include "worker/engine/resnet.h"

#include <string>

namespace rib::engine {
namespace internal {
namespace {

torch::nn::Conv2d Conv(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                       int64_t padding) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(in, out, kernel)
                             .stride(stride)
                             .padding(padding)
                             .bias(false));
  // torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu").
  torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
  return conv;
}

torch::nn::BatchNorm2d Bn(int64_t channels) {
  return torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(channels));
}

}  // namespace

torch::Tensor ConvBn(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn,
                     const torch::Tensor& x) {
  if (bn->is_training()) return bn(conv(x));
  // Evaluation: fold the BatchNorm's affine map into the convolution (one pass over the
  // activations instead of two). Equal to bn(conv(x)) up to float rounding.
  const auto& o = conv->options;
  auto scale = (bn->running_var + bn->options.eps()).rsqrt() * bn->weight;
  auto weight = conv->weight * scale.view({-1, 1, 1, 1});
  auto bias = bn->bias - bn->running_mean * scale;
  return torch::conv2d(x, weight, bias, *o.stride(),
                       c10::get<torch::ExpandingArray<2>>(o.padding()), *o.dilation(),
                       o.groups());
}

ResidualBlockImpl::ResidualBlockImpl(bool bottleneck, int64_t in_planes, int64_t planes,
                                     int64_t stride)
    : bottleneck_(bottleneck) {
  const int64_t out_planes = planes * Expansion(bottleneck);
  if (bottleneck) {
    // torchvision's ResNet v1.5: the stride sits on the 3×3 convolution.
    conv1_ = register_module("conv1", Conv(in_planes, planes, 1, 1, 0));
    bn1_ = register_module("bn1", Bn(planes));
    conv2_ = register_module("conv2", Conv(planes, planes, 3, stride, 1));
    bn2_ = register_module("bn2", Bn(planes));
    conv3_ = register_module("conv3", Conv(planes, out_planes, 1, 1, 0));
    bn3_ = register_module("bn3", Bn(out_planes));
  } else {
    conv1_ = register_module("conv1", Conv(in_planes, planes, 3, stride, 1));
    bn1_ = register_module("bn1", Bn(planes));
    conv2_ = register_module("conv2", Conv(planes, planes, 3, 1, 1));
    bn2_ = register_module("bn2", Bn(planes));
  }
  if (stride != 1 || in_planes != out_planes) {
    down_conv_ = Conv(in_planes, out_planes, 1, stride, 0);
    down_bn_ = Bn(out_planes);
    downsample_ = register_module("downsample", torch::nn::Sequential(down_conv_, down_bn_));
  }
}

// ReLU and the residual sum run in place on batch-norm outputs, as torchvision's
// (ReLU(inplace=True), out += identity): same values, less memory traffic. Batch norm's
// backward needs its input, not its output, so autograd allows it.
torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x) {
  auto out = ConvBn(conv1_, bn1_, x).relu_();
  out = ConvBn(conv2_, bn2_, out);
  if (bottleneck_) out = ConvBn(conv3_, bn3_, out.relu_());
  out += downsample_ ? ConvBn(down_conv_, down_bn_, x) : x;
  return out.relu_();
}

}  // namespace internal

ResNetImpl::ResNetImpl(const ResNetConfig& config) : config_(config) {
  if (config.small_stem) {
    conv1_ = register_module("conv1",
                             internal::Conv(config.in_channels, config.stem_width, 3, 1, 1));
  } else {
    conv1_ = register_module("conv1",
                             internal::Conv(config.in_channels, config.stem_width, 7, 2, 3));
  }
  bn1_ = register_module("bn1", internal::Bn(config.stem_width));
  const int64_t expansion = internal::ResidualBlockImpl::Expansion(config.bottleneck);
  int64_t in_planes = config.stem_width;
  for (size_t s = 0; s < config.layers.size(); ++s) {
    torch::nn::Sequential stage;
    const int64_t planes = config.widths[s];
    for (int64_t b = 0; b < config.layers[s]; ++b) {
      const int64_t stride = (s > 0 && b == 0) ? 2 : 1;
      stage->push_back(internal::ResidualBlock(config.bottleneck, in_planes, planes, stride));
      in_planes = planes * expansion;
    }
    stages_.push_back(register_module("layer" + std::to_string(s + 1), stage));
  }
  feature_dim_ = in_planes;
  fc_ = register_module("fc", torch::nn::Linear(feature_dim_, config.num_classes));
}

torch::Tensor ResNetImpl::Features(const torch::Tensor& images) {
  torch::Tensor x = images;
  // A grayscale batch for an RGB model: replicate the channel (FMNIST images).
  if (x.size(1) == 1 && config_.in_channels == 3) x = x.expand({-1, 3, -1, -1});
  x = internal::ConvBn(conv1_, bn1_, x).relu_();
  if (!config_.small_stem) x = torch::max_pool2d(x, 3, 2, 1);
  for (auto& stage : stages_) x = stage->forward(x);
  return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
}

torch::Tensor ResNetImpl::Head(const torch::Tensor& features) { return fc_(features); }

}  // namespace rib::engine
