// Vision Transformer with timm's parameter names (timm/models/vision_transformer.py),
// so timm's published .safetensors load without renaming:
//
//   patch_embed.proj.{weight,bias}  cls_token  pos_embed  [norm_pre.{weight,bias}]
//   blocks.N.norm1  blocks.N.attn.qkv  blocks.N.attn.proj  blocks.N.norm2
//   blocks.N.mlp.fc1  blocks.N.mlp.fc2  norm  head
//
// The CLIP-derived variant (timm's vit_*_clip_*: pre_norm=True) adds norm_pre after the
// patch embedding, drops the patch embedding's bias and uses LayerNorm eps 1e-5; the
// AugReg/original variant uses eps 1e-6. Pooling is the class token
// (global_pool='token').
//
// LoRA (DESIGN §6): EnableLora(r, alpha) adds, per block, lora_q_A [r, D], lora_q_B
// [D, r], lora_v_A, lora_v_B on blocks.N.attn, acting on the q and v thirds of the
// fused qkv projection: q += (alpha / r) · x Aᵀ Bᵀ. B starts at zero, so enabling LoRA
// does not change the output. MergeLora folds (alpha / r) · B A into qkv.weight and
// removes the adapters.
//
// Inference() (evaluation) runs each block as PyTorch's fused encoder-layer kernel
// (at::_transformer_encoder_layer_fwd, nn.TransformerEncoderLayer's fast path with
// norm_first and GELU), which is the same pre-norm block.
//
// Not thread-safe (a torch module).
#ifndef RIB_WORKER_ENGINE_VIT_H_
#define RIB_WORKER_ENGINE_VIT_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "worker/engine/model.h"

namespace rib::engine {

struct VitConfig {
  int64_t image_size = 224;
  int64_t patch_size = 16;
  int64_t in_channels = 3;
  int64_t embed_dim = 768;
  int64_t depth = 12;
  int64_t num_heads = 12;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  // CLIP-derived towers: norm_pre after the patch embedding, no patch-embedding bias.
  bool pre_norm = false;
  double norm_eps = 1e-6;
  int64_t num_classes = 1000;
};

namespace internal {

// timm's Attention with optional LoRA adapters on the q and v slices of qkv.
class VitAttentionImpl : public torch::nn::Module {
 public:
  VitAttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias);
  torch::Tensor forward(const torch::Tensor& x);

  void EnableLora(int64_t rank, double alpha);
  void MergeLora();
  bool lora_enabled() const { return lora_rank_ > 0; }

  torch::nn::Linear qkv{nullptr};
  torch::nn::Linear proj{nullptr};

 private:
  int64_t dim_;
  int64_t num_heads_;
  double scale_;
  int64_t lora_rank_ = 0;
  double lora_scaling_ = 0.0;
  torch::Tensor lora_q_a_, lora_q_b_, lora_v_a_, lora_v_b_;
};
TORCH_MODULE(VitAttention);

class VitMlpImpl : public torch::nn::Module {
 public:
  VitMlpImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc1{nullptr};
  torch::nn::Linear fc2{nullptr};
};
TORCH_MODULE(VitMlp);

class VitBlockImpl : public torch::nn::Module {
 public:
  explicit VitBlockImpl(const VitConfig& config);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::LayerNorm norm1{nullptr};
  VitAttention attn{nullptr};
  torch::nn::LayerNorm norm2{nullptr};
  VitMlp mlp{nullptr};
};
TORCH_MODULE(VitBlock);

class PatchEmbedImpl : public torch::nn::Module {
 public:
  explicit PatchEmbedImpl(const VitConfig& config);
  // [N, C, H, W] → [N, (H/p)·(W/p), D].
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

}  // namespace internal

class VisionTransformerImpl : public ClassifierImpl {
 public:
  explicit VisionTransformerImpl(const VitConfig& config);

  torch::Tensor Features(const torch::Tensor& images) override;
  torch::Tensor Head(const torch::Tensor& features) override;
  std::vector<std::string> HeadParameterNames() const override {
    return {"head.weight", "head.bias"};
  }
  // cls_token, pos_embed, norm_pre.* (when present), norm.*.
  std::vector<std::string> EmbeddingParameterNames() const override;
  int64_t num_classes() const override { return config_.num_classes; }
  int64_t feature_dim() const override { return config_.embed_dim; }
  int64_t image_size() const override { return config_.image_size; }
  int64_t in_channels() const override { return config_.in_channels; }
  // Fused encoder layers; forward() itself while LoRA adapters are unmerged or autocast
  // is on.
  ForwardFn Inference() override;

  // INVALID_ARGUMENT for rank < 1 or alpha <= 0; FAILED_PRECONDITION when already on.
  absl::Status EnableLora(int64_t rank, double alpha) override;
  // FAILED_PRECONDITION when LoRA is not enabled.
  absl::Status MergeLora() override;

  const VitConfig& config() const { return config_; }

 private:
  // Patch embedding, class token, position embedding and norm_pre: [N, T, D].
  torch::Tensor Embed(const torch::Tensor& images);

  VitConfig config_;
  internal::PatchEmbed patch_embed_{nullptr};
  torch::Tensor cls_token_;
  torch::Tensor pos_embed_;
  torch::nn::LayerNorm norm_pre_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  std::vector<internal::VitBlock> block_ptrs_;
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(VisionTransformer);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_VIT_H_
