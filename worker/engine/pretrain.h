// Pre-training for the embedded suite (DESIGN §4.2): small models trained from scratch
// on fmnist-train, at two levels of richness, so the demo can show that richer
// pre-training inherits more robustness (the paper's effect). Results are cached: a
// model is retrained only when its file is missing or was made with another config.
//
// Thread-compatible: sets torch's global seed and thread count.
#ifndef RIB_WORKER_ENGINE_PRETRAIN_H_
#define RIB_WORKER_ENGINE_PRETRAIN_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "spec/job_spec.h"
#include "worker/engine/events.h"

namespace rib::engine {

struct PretrainRecipe {
  std::string name;              // file stem: <out>/<name>.safetensors
  std::string arch = "fmnist_vit";
  int64_t train_examples = 0;    // first N of a seeded permutation of fmnist-train (0 = all)
  int epochs = 1;
  std::string optimizer = "sgd";  // "sgd" or "adamw" (TrainingConfig::optimizer)
  int batch_size = 128;
  double lr = 0.05;
  int warmup_steps = 50;
  double weight_decay = 5e-4;
  // "none", "heavy" or "mixed". heavy: random crop (pad 4) and horizontal flip, then
  // RandAugment-style photometric ops drawn per image (contrast, per-channel tint,
  // posterize, solarize, invert, blur or sharpen, Gaussian noise, random erasing),
  // seeded per batch. mixed: heavy on a seeded half of each batch's images (a coin per
  // image), the others clean, so the model also learns the clean images it is scored
  // on (MixedAugment).
  std::string augment = "none";
  int64_t seed = 0;
};

// The two embedded-suite recipes, same architecture (fmnist_resnet), SGD:
// "fmnist_resnet_plain" (16,000 images, no augmentation, lr 0.05) and
// "fmnist_resnet_rich" (36,000 images, augment "mixed", lr 0.1). Measured on 2 cores:
// 52 s and 110 s; fmnist-val 85.1% and (with augment "heavy" on every image) 79.7%;
// that rich model was far more robust (e.g. fmnist-sketch 59% vs 16%, fmnist-cartoon
// 68% vs 19%) but less accurate on fmnist-val. With "mixed" (half of each batch clean)
// it reaches 86.8% on fmnist-val (1736/2000; 2 min of CPU, 23 min of wall time on the
// machine shared with six builds), more than plain, as the paper's richer models are;
// its robustness with "mixed" is not yet measured (the demo's baseline row shows it). fmnist_resnet rather than
// fmnist_vit: with the same budget the ViT reached 36% (SGD) or 64% (AdamW) on
// fmnist-val, so the pair leaves lora (attention-only) out of the demo.
// A third, "fmnist_vit_plain" (fmnist_vit, the plain recipe with AdamW lr 0.002,
// weight decay 0.05: 47 s, 63% on fmnist-val), is there for the methods that need
// attention (lora) and is not part of the demo.
std::vector<PretrainRecipe> DefaultPretrainRecipes();

// A stable text of the recipe plus the FMNIST-RIB manifest hash: its SHA-256 is the
// "config_hash" stored in the weights file's metadata.
std::string PretrainConfigText(const PretrainRecipe& recipe, const std::string& suite_hash);

struct PretrainOptions {
  std::string data_root;  // where FMNIST-RIB is (built on first use)
  std::string out_dir;    // where <name>.safetensors go
  int threads = 0;        // torch intra-op threads (0 = torch's default)
  bool force = false;     // retrain even when the cached file matches
};

struct PretrainOutcome {
  std::string name;
  std::string path;
  bool cached = false;      // the file already matched; nothing was trained
  int64_t val_correct = 0;  // on all of fmnist-val
  int64_t val_total = 0;
  double seconds = 0.0;     // training time (0 when cached)
  double val_accuracy() const {
    return val_total > 0 ? static_cast<double>(val_correct) / val_total : 0.0;
  }
};

// Trains (or finds cached) each recipe and evaluates it on fmnist-val.
// Errors: those of the data library (NOT_FOUND without Fashion-MNIST), INVALID_ARGUMENT
// for a bad recipe, INTERNAL on write errors.
absl::StatusOr<std::vector<PretrainOutcome>> Pretrain(const std::vector<PretrainRecipe>& recipes,
                                                      const PretrainOptions& options,
                                                      EventSink* sink);

// The heavy augmentation, exposed for tests: deterministic in `seed`, same shape out.
torch::Tensor HeavyAugment(const torch::Tensor& images, int64_t seed);

// "mixed": HeavyAugment on the images whose seeded coin (p = 1/2) comes up, the others
// unchanged. Deterministic in `seed`, same shape out.
torch::Tensor MixedAugment(const torch::Tensor& images, int64_t seed);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_PRETRAIN_H_
