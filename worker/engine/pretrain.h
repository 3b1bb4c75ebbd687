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
#include "common/job_spec.h"
#include "worker/engine/events.h"

namespace rib::engine {

struct PretrainRecipe {
  std::string name;              // file stem: <out>/<name>.safetensors
  std::string arch = "fmnist_vit";
  int64_t train_examples = 0;    // first N of a seeded permutation of fmnist-train (0 = all)
  int epochs = 1;
  int batch_size = 128;
  double lr = 0.05;
  int warmup_steps = 50;
  double weight_decay = 5e-4;
  // "none" or "heavy": random crop (pad 4), horizontal flip, brightness/contrast
  // jitter, Gaussian noise, random erasing, applied per batch with a seeded generator.
  std::string augment = "none";
  int64_t seed = 0;
};

// The two embedded-suite recipes, same architecture (fmnist_vit, so every method
// including lora applies): "fmnist_vit_plain" (4,000 images, 2 epochs) and
// "fmnist_vit_rich" (8,000 images, 3 epochs, heavy augmentation). Sized to take
// together about two to three minutes on 2 idle CPU cores.
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

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_PRETRAIN_H_
