#include "worker/engine/resnet.h"

#include <memory>
#include <string>
#include <utility>

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

// The BatchNorm's affine map folded into the convolution: {weight, bias} of one
// convolution equal to bn(conv(x)) in evaluation mode, up to float rounding.
std::pair<torch::Tensor, torch::Tensor> FoldedWeights(torch::nn::Conv2d& conv,
                                                      torch::nn::BatchNorm2d& bn) {
  auto scale = (bn->running_var + bn->options.eps()).rsqrt() * bn->weight;
  auto weight = conv->weight * scale.view({-1, 1, 1, 1});
  auto bias = bn->bias - bn->running_mean * scale;
  if (conv->bias.defined()) bias = bias + conv->bias * scale;
  return {weight, bias};
}

}  // namespace

torch::Tensor ConvBn(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn,
                     const torch::Tensor& x) {
  if (bn->is_training()) return bn(conv(x));
  // Evaluation: one pass over the activations instead of two.
  const auto& o = conv->options;
  auto [weight, bias] = FoldedWeights(conv, bn);
  return torch::conv2d(x, weight, bias, *o.stride(),
                       c10::get<torch::ExpandingArray<2>>(o.padding()), *o.dilation(),
                       o.groups());
}

FoldedConv FoldConvBn(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn, bool mkldnn) {
  torch::NoGradGuard no_grad;
  const auto& o = conv->options;
  FoldedConv folded;
  auto vec = [](const torch::ExpandingArray<2>& a) {
    return std::vector<int64_t>(a->begin(), a->end());
  };
  folded.stride = vec(o.stride());
  folded.padding = vec(c10::get<torch::ExpandingArray<2>>(o.padding()));
  folded.dilation = vec(o.dilation());
  folded.groups = o.groups();
  folded.mkldnn = mkldnn;
  auto [weight, bias] = FoldedWeights(conv, bn);
  folded.bias = bias.contiguous();
  folded.weight = mkldnn ? at::mkldnn_reorder_conv2d_weight(
                               weight.contiguous().to_mkldnn(), folded.padding,
                               folded.stride, folded.dilation, folded.groups)
                         : weight.contiguous();
  return folded;
}

torch::Tensor FoldedConv::Run(const torch::Tensor& x) const {
  if (mkldnn)
    return at::mkldnn_convolution(x, weight, bias, padding, stride, dilation, groups);
  return torch::conv2d(x, weight, bias, stride, padding, dilation, groups);
}

torch::Tensor FoldedBlock::Run(const torch::Tensor& x) const {
  auto out = conv1.Run(x).relu_();
  out = conv2.Run(out);
  if (bottleneck) out = conv3.Run(out.relu_());
  out.add_(downsample ? downsample->Run(x) : x);
  return out.relu_();
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

FoldedBlock ResidualBlockImpl::Fold(bool mkldnn) {
  FoldedBlock block;
  block.bottleneck = bottleneck_;
  block.conv1 = FoldConvBn(conv1_, bn1_, mkldnn);
  block.conv2 = FoldConvBn(conv2_, bn2_, mkldnn);
  if (bottleneck_) block.conv3 = FoldConvBn(conv3_, bn3_, mkldnn);
  if (downsample_) block.downsample = FoldConvBn(down_conv_, down_bn_, mkldnn);
  return block;
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
  // Convolution weights in channels-last order: the convolutions then pick oneDNN's NHWC
  // kernels and keep activations NHWC through batch norm and ReLU, which trains faster
  // on CPU than NCHW (bench/engine). Names, shapes and values are unchanged; weights are
  // saved and loaded by logical index.
  torch::NoGradGuard no_grad;
  for (auto& p : parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
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

ForwardFn ResNetImpl::Inference() {
  if (is_training()) return ClassifierImpl::Inference();
  torch::NoGradGuard no_grad;
  const torch::Tensor& w = conv1_->weight;
  // oneDNN's blocked layout: CPU float32 only (CUDA keeps cuDNN on the folded weights).
  const bool mkldnn =
      at::hasMKLDNN() && w.device().is_cpu() && w.scalar_type() == torch::kFloat;
  struct Plan {
    bool expand_gray, small_stem, mkldnn;
    internal::FoldedConv stem;
    std::vector<internal::FoldedBlock> blocks;
    torch::Tensor fc_weight, fc_bias;
  };
  auto plan = std::make_shared<Plan>();
  plan->expand_gray = config_.in_channels == 3;
  plan->small_stem = config_.small_stem;
  plan->mkldnn = mkldnn;
  plan->stem = internal::FoldConvBn(conv1_, bn1_, mkldnn);
  for (auto& stage : stages_) {
    for (const auto& child : stage->children()) {
      plan->blocks.push_back(
          std::dynamic_pointer_cast<internal::ResidualBlockImpl>(child)->Fold(mkldnn));
    }
  }
  plan->fc_weight = fc_->weight.detach();
  plan->fc_bias = fc_->bias.detach();
  return [plan](const torch::Tensor& images) {
    torch::Tensor x = images;
    if (x.size(1) == 1 && plan->expand_gray) x = x.expand({-1, 3, -1, -1});
    if (plan->mkldnn) x = x.to(torch::kFloat).contiguous().to_mkldnn();
    x = plan->stem.Run(x).relu_();
    if (!plan->small_stem) x = torch::max_pool2d(x, 3, 2, 1);
    for (const auto& block : plan->blocks) x = block.Run(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1});
    if (plan->mkldnn) x = x.to_dense();
    return torch::nn::functional::linear(x.flatten(1), plan->fc_weight, plan->fc_bias);
  };
}

}  // namespace rib::engine
