#include "worker/engine/vit.h"

#include <ATen/autocast_mode.h>

#include <cmath>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rib::engine {
namespace internal {
namespace {

// timm's trunc_normal_(std=.02) with bounds ±2 (absolute): at std 0.02 the bounds are
// 100 standard deviations away, so clamping a normal sample is the same distribution.
void TruncNormal(torch::Tensor& t, double std) {
  torch::NoGradGuard no_grad;
  t.normal_(0.0, std).clamp_(-2.0, 2.0);
}

torch::nn::Linear TimmLinear(int64_t in, int64_t out, bool bias = true) {
  torch::nn::Linear linear(torch::nn::LinearOptions(in, out).bias(bias));
  TruncNormal(linear->weight, 0.02);
  if (bias) {
    torch::NoGradGuard no_grad;
    linear->bias.zero_();
  }
  return linear;
}

}  // namespace

VitAttentionImpl::VitAttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias)
    // head_dim ** -0.5, computed as timm does so the float scale rounds identically.
    : dim_(dim),
      num_heads_(num_heads),
      scale_(std::pow(static_cast<double>(dim / num_heads), -0.5)) {
  qkv = register_module("qkv", TimmLinear(dim, 3 * dim, qkv_bias));
  proj = register_module("proj", TimmLinear(dim, dim));
}

torch::Tensor VitAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0);
  const int64_t n = x.size(1);
  const int64_t hd = dim_ / num_heads_;
  torch::Tensor weight = qkv->weight;
  if (lora_rank_ > 0) {
    // The adapters as a low-rank update of the frozen weight, rows [q | k | v]: one small
    // [3D, r]·[r, D] product per step instead of two extra activation-sized passes, and
    // the same function MergeLora() bakes in.
    auto zeros = torch::zeros({dim_, dim_}, weight.options());
    weight = weight + torch::cat({torch::matmul(lora_q_b_, lora_q_a_), zeros,
                                  torch::matmul(lora_v_b_, lora_v_a_)},
                                 0) *
                          lora_scaling_;
  }
  auto qkv_out = torch::nn::functional::linear(x, weight, qkv->bias);
  // timm's op sequence exactly ([B, N, 3, H, hd] → [3, B, H, N, hd], unbind, q·scale,
  // matmul). A single contiguous split + bmm measured no faster on CPU (bench/engine).
  auto parts = qkv_out.reshape({b, n, 3, num_heads_, hd}).permute({2, 0, 3, 1, 4}).unbind(0);
  auto attn = torch::matmul(parts[0] * scale_, parts[1].transpose(-2, -1)).softmax(-1);
  auto out = torch::matmul(attn, parts[2]).transpose(1, 2).reshape({b, n, dim_});
  return proj(out);
}

void VitAttentionImpl::EnableLora(int64_t rank, double alpha) {
  lora_rank_ = rank;
  lora_scaling_ = alpha / static_cast<double>(rank);
  auto options = qkv->weight.options();
  // A as nn.Linear's default init (kaiming_uniform, a=√5), as peft does; B = 0.
  auto make_a = [&]() {
    auto a = torch::empty({rank, dim_}, options);
    torch::nn::init::kaiming_uniform_(a, std::sqrt(5.0));
    return a;
  };
  lora_q_a_ = register_parameter("lora_q_A", make_a());
  lora_q_b_ = register_parameter("lora_q_B", torch::zeros({dim_, rank}, options));
  lora_v_a_ = register_parameter("lora_v_A", make_a());
  lora_v_b_ = register_parameter("lora_v_B", torch::zeros({dim_, rank}, options));
}

void VitAttentionImpl::MergeLora() {
  {
    torch::NoGradGuard no_grad;
    auto w = qkv->weight;
    w.narrow(0, 0, dim_).add_(torch::matmul(lora_q_b_, lora_q_a_), lora_scaling_);
    w.narrow(0, 2 * dim_, dim_).add_(torch::matmul(lora_v_b_, lora_v_a_), lora_scaling_);
  }
  // parameters_ is protected in torch::nn::Module; there is no unregister_parameter.
  for (const char* name : {"lora_q_A", "lora_q_B", "lora_v_A", "lora_v_B"}) {
    parameters_.erase(name);
  }
  lora_q_a_ = lora_q_b_ = lora_v_a_ = lora_v_b_ = torch::Tensor();
  lora_rank_ = 0;
  lora_scaling_ = 0.0;
}

VitMlpImpl::VitMlpImpl(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", TimmLinear(dim, hidden));
  fc2 = register_module("fc2", TimmLinear(hidden, dim));
}

torch::Tensor VitMlpImpl::forward(const torch::Tensor& x) {
  return fc2(torch::gelu(fc1(x)));
}

VitBlockImpl::VitBlockImpl(const VitConfig& config) {
  const auto ln = torch::nn::LayerNormOptions({config.embed_dim}).eps(config.norm_eps);
  norm1 = register_module("norm1", torch::nn::LayerNorm(ln));
  attn = register_module("attn",
                         VitAttention(config.embed_dim, config.num_heads, config.qkv_bias));
  norm2 = register_module("norm2", torch::nn::LayerNorm(ln));
  const auto hidden = static_cast<int64_t>(config.embed_dim * config.mlp_ratio);
  mlp = register_module("mlp", VitMlp(config.embed_dim, hidden));
}

torch::Tensor VitBlockImpl::forward(const torch::Tensor& x) {
  auto h = x + attn(norm1(x));
  return h + mlp(norm2(h));
}

PatchEmbedImpl::PatchEmbedImpl(const VitConfig& config) {
  proj = register_module(
      "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(config.in_channels,
                                                         config.embed_dim,
                                                         config.patch_size)
                                    .stride(config.patch_size)
                                    .bias(!config.pre_norm)));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& x) {
  return proj(x).flatten(2).transpose(1, 2);
}

}  // namespace internal

VisionTransformerImpl::VisionTransformerImpl(const VitConfig& config) : config_(config) {
  const int64_t grid = config.image_size / config.patch_size;
  patch_embed_ = register_module("patch_embed", internal::PatchEmbed(config));
  cls_token_ = register_parameter("cls_token", torch::empty({1, 1, config.embed_dim}));
  pos_embed_ =
      register_parameter("pos_embed", torch::empty({1, grid * grid + 1, config.embed_dim}));
  {
    torch::NoGradGuard no_grad;
    cls_token_.normal_(0.0, 1e-6);
    pos_embed_.normal_(0.0, 0.02).clamp_(-2.0, 2.0);
  }
  const auto ln = torch::nn::LayerNormOptions({config.embed_dim}).eps(config.norm_eps);
  if (config.pre_norm) norm_pre_ = register_module("norm_pre", torch::nn::LayerNorm(ln));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.depth; ++i) {
    internal::VitBlock block(config);
    blocks_->push_back(block);
    block_ptrs_.push_back(block);
  }
  norm_ = register_module("norm", torch::nn::LayerNorm(ln));
  head_ = register_module(
      "head", torch::nn::Linear(config.embed_dim, config.num_classes));
  {
    torch::NoGradGuard no_grad;
    head_->weight.normal_(0.0, 0.02).clamp_(-2.0, 2.0);
    head_->bias.zero_();
  }
}

torch::Tensor VisionTransformerImpl::Embed(const torch::Tensor& images) {
  torch::Tensor input = images;
  // A grayscale batch for an RGB model: replicate the channel (FMNIST images).
  if (input.size(1) == 1 && config_.in_channels == 3) input = input.expand({-1, 3, -1, -1});
  auto x = patch_embed_(input);
  const int64_t b = x.size(0);
  x = torch::cat({cls_token_.expand({b, -1, -1}), x}, 1) + pos_embed_;
  if (config_.pre_norm) x = norm_pre_(x);
  return x;
}

torch::Tensor VisionTransformerImpl::Features(const torch::Tensor& images) {
  auto x = Embed(images);
  for (auto& block : block_ptrs_) x = block(x);
  x = norm_(x);
  return x.select(1, 0);
}

std::vector<std::string> VisionTransformerImpl::EmbeddingParameterNames() const {
  std::vector<std::string> out;
  for (const auto& item : named_parameters()) {
    const std::string& name = item.key();
    if (absl::StartsWith(name, "patch_embed.") || absl::StartsWith(name, "blocks.") ||
        absl::StartsWith(name, "head.")) {
      continue;
    }
    out.push_back(name);
  }
  return out;
}

ForwardFn VisionTransformerImpl::Inference() {
  if (is_training() || (!block_ptrs_.empty() && block_ptrs_[0]->attn->lora_enabled())) {
    return ClassifierImpl::Inference();
  }
  auto self = std::static_pointer_cast<VisionTransformerImpl>(shared_from_this());
  // The kernel wants a qkv bias; a bias-free qkv is a zero one.
  std::vector<torch::Tensor> qkv_bias;
  for (auto& block : block_ptrs_) {
    const auto& qkv = block->attn->qkv;
    qkv_bias.push_back(qkv->bias.defined()
                           ? qkv->bias.detach()
                           : torch::zeros({qkv->weight.size(0)}, qkv->weight.options()));
  }
  return [self, qkv_bias](const torch::Tensor& images) {
    // The fused kernel has no autocast rule; under autocast run the module path.
    if (at::autocast::is_enabled() || at::autocast::is_cpu_enabled()) {
      return self->forward(images);
    }
    const VitConfig& c = self->config_;
    auto x = self->Embed(images);
    for (size_t i = 0; i < self->block_ptrs_.size(); ++i) {
      auto& b = self->block_ptrs_[i];
      x = at::_transformer_encoder_layer_fwd(
          x, c.embed_dim, c.num_heads, b->attn->qkv->weight, qkv_bias[i],
          b->attn->proj->weight, b->attn->proj->bias, /*use_gelu=*/true,
          /*norm_first=*/true, c.norm_eps, b->norm1->weight, b->norm1->bias,
          b->norm2->weight, b->norm2->bias, b->mlp->fc1->weight, b->mlp->fc1->bias,
          b->mlp->fc2->weight, b->mlp->fc2->bias);
    }
    return self->Head(self->norm_(x).select(1, 0));
  };
}

torch::Tensor VisionTransformerImpl::Head(const torch::Tensor& features) {
  return head_(features);
}

absl::Status VisionTransformerImpl::EnableLora(int64_t rank, double alpha) {
  if (rank < 1 || rank > config_.embed_dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("LoRA rank must be in [1, ", config_.embed_dim, "], got ", rank));
  }
  if (!(alpha > 0.0) || !std::isfinite(alpha)) {
    return absl::InvalidArgumentError(absl::StrCat("LoRA alpha must be > 0, got ", alpha));
  }
  if (!block_ptrs_.empty() && block_ptrs_[0]->attn->lora_enabled()) {
    return absl::FailedPreconditionError("LoRA is already enabled");
  }
  for (auto& block : block_ptrs_) block->attn->EnableLora(rank, alpha);
  return absl::OkStatus();
}

absl::Status VisionTransformerImpl::MergeLora() {
  if (block_ptrs_.empty() || !block_ptrs_[0]->attn->lora_enabled()) {
    return absl::FailedPreconditionError("LoRA is not enabled");
  }
  for (auto& block : block_ptrs_) block->attn->MergeLora();
  return absl::OkStatus();
}

}  // namespace rib::engine
