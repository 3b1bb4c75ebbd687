// A tiny Classifier for the engine's training tests: [N, 1, 4, 4] images → 16 → 8
// (linear, batch norm, tanh) features → 3-class head. Optional LoRA on the body layer,
// so method logic is tested without the real architectures, and optional dropout on the
// features, so tests see a model that draws random numbers while it trains.
#ifndef RIB_TESTS_WORKER_ENGINE_TRAIN_TINY_MODEL_H_
#define RIB_TESTS_WORKER_ENGINE_TRAIN_TINY_MODEL_H_

#include <torch/torch.h>

#include "worker/engine/model.h"

namespace rib::engine::testing {

class TinyClassifierImpl : public ClassifierImpl {
 public:
  // norm=false skips the batch norm (per-rank batch statistics would make N ranks
  // differ from one, as in PyTorch DDP without SyncBatchNorm). dropout: the
  // probability of zeroing a feature in train mode (torch's default generator).
  explicit TinyClassifierImpl(int64_t classes = 3, bool use_norm = true,
                              double dropout = 0.0)
      : classes_(classes), use_norm_(use_norm), dropout_(dropout) {
    body = register_module("body", torch::nn::Linear(16, 8));
    norm = register_module("norm", torch::nn::BatchNorm1d(8));
    head = register_module("head", torch::nn::Linear(8, classes));
  }
  torch::Tensor Features(const torch::Tensor& images) override {
    torch::Tensor x = images.reshape({images.size(0), -1});
    torch::Tensor y = body(x);
    if (lora_a.defined()) y = y + lora_scale_ * torch::matmul(torch::matmul(x, lora_a.t()), lora_b.t());
    torch::Tensor features = torch::tanh(use_norm_ ? norm(y) : y);
    return dropout_ > 0.0 ? torch::dropout(features, dropout_, is_training()) : features;
  }
  torch::Tensor Head(const torch::Tensor& features) override { return head(features); }
  std::vector<std::string> HeadParameterNames() const override {
    return {"head.weight", "head.bias"};
  }
  int64_t num_classes() const override { return classes_; }
  int64_t feature_dim() const override { return 8; }
  int64_t image_size() const override { return 4; }
  int64_t in_channels() const override { return 1; }
  absl::Status EnableLora(int64_t rank, double alpha) override {
    lora_a = register_parameter("lora_a", torch::randn({rank, 16}) * 0.1);
    lora_b = register_parameter("lora_b", torch::zeros({8, rank}));
    lora_scale_ = alpha / static_cast<double>(rank);
    return absl::OkStatus();
  }
  absl::Status MergeLora() override {
    if (!lora_a.defined()) return absl::FailedPreconditionError("LoRA is not enabled");
    torch::NoGradGuard no_grad;
    body->weight.add_(lora_scale_ * torch::matmul(lora_b, lora_a));
    lora_a = torch::Tensor();
    lora_b = torch::Tensor();
    // Removing a registered parameter: rebuild the parameter dict without them.
    parameters_.erase("lora_a");
    parameters_.erase("lora_b");
    return absl::OkStatus();
  }

  torch::nn::Linear body{nullptr};
  torch::nn::BatchNorm1d norm{nullptr};
  torch::nn::Linear head{nullptr};
  torch::Tensor lora_a, lora_b;

 private:
  int64_t classes_;
  bool use_norm_;
  double dropout_;
  double lora_scale_ = 1.0;
};
TORCH_MODULE(TinyClassifier);

inline Classifier AsClassifier(const TinyClassifier& model) {
  return Classifier(std::static_pointer_cast<ClassifierImpl>(model.ptr()));
}

// Seeded synthetic data: class k has mean pattern k.
inline std::pair<torch::Tensor, torch::Tensor> TinyData(int64_t n, int64_t seed,
                                                        int64_t classes = 3) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::Tensor labels = torch::randint(classes, {n}, gen, torch::kLong);
  torch::Tensor centers = torch::randn({classes, 1, 4, 4}, gen);
  torch::Tensor images = centers.index_select(0, labels) + 0.5 * torch::randn({n, 1, 4, 4}, gen);
  return {images, labels};
}

}  // namespace rib::engine::testing

#endif  // RIB_TESTS_WORKER_ENGINE_TRAIN_TINY_MODEL_H_
