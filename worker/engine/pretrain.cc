#include "worker/engine/pretrain.h"

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/status_macros.h"
#include "spec/preprocessing.h"
#include "spec/suites.h"
#include "worker/data/fmnist_rib.h"
#include "worker/data/source.h"
#include "worker/engine/batches.h"
#include "worker/engine/evaluate.h"
#include "worker/engine/label_mask.h"
#include "worker/engine/methods.h"
#include "worker/engine/model.h"
#include "worker/engine/safetensors.h"
#include "worker/engine/threads.h"
#include "worker/engine/torch_errors.h"
#include "worker/engine/trainer.h"
#include "worker/engine/weights.h"

namespace rib::engine {
namespace {

// Decodes `examples` of `source` into one tensor.
absl::Status LoadAll(const data::DatasetSource& source,
                     const std::vector<data::Example>& examples, torch::Tensor* images,
                     torch::Tensor* labels) {
  std::vector<torch::Tensor> list;
  std::vector<int64_t> label_list;
  list.reserve(examples.size());
  for (const auto& example : examples) {
    RIB_ASSIGN_OR_RETURN(torch::Tensor image, source.LoadImage(example));
    list.push_back(image);
    label_list.push_back(example.label);
  }
  *images = torch::stack(list);
  *labels = torch::tensor(label_list, torch::kLong);
  return absl::OkStatus();
}

absl::StatusOr<std::string> CachedConfigHash(const std::string& path) {
  RIB_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsReader> reader, SafetensorsReader::Open(path));
  auto it = reader->header().metadata.find("config_hash");
  if (it == reader->header().metadata.end()) return std::string();
  return it->second;
}

absl::StatusOr<SubsetCount> EvaluateVal(Classifier model, const torch::Tensor& images,
                                        const torch::Tensor& labels) {
  model->eval();
  auto stream = MakeTensorStream(images, labels, 256);
  RIB_ASSIGN_OR_RETURN(
      std::vector<SubsetCount> counts,
      Evaluate(model->Inference(), *stream, LabelMask::Identity(model->num_classes()),
               EvaluateOptions{}));
  return counts.front();
}

}  // namespace

std::vector<PretrainRecipe> DefaultPretrainRecipes() {
  PretrainRecipe plain;
  plain.name = "fmnist_resnet_plain";
  plain.arch = "fmnist_resnet";
  plain.train_examples = 16000;
  plain.epochs = 1;
  plain.batch_size = 64;
  plain.lr = 0.05;
  plain.warmup_steps = 25;
  PretrainRecipe rich = plain;
  rich.name = "fmnist_resnet_rich";
  rich.train_examples = 36000;
  rich.lr = 0.1;
  rich.augment = "mixed";
  PretrainRecipe vit = plain;
  vit.name = "fmnist_vit_plain";
  vit.arch = "fmnist_vit";
  vit.optimizer = "adamw";
  vit.lr = 0.002;
  vit.weight_decay = 0.05;
  return {plain, rich, vit};
}

std::string PretrainConfigText(const PretrainRecipe& r, const std::string& suite_hash) {
  return absl::StrCat(
      "rib-pretrain v1\nname=", r.name, "\narch=", r.arch,
      "\ntrain_examples=", r.train_examples, "\nepochs=", r.epochs,
      "\noptimizer=", r.optimizer, "\nbatch_size=", r.batch_size,
      "\nlr=", absl::StrFormat("%.17g", r.lr), "\nwarmup_steps=", r.warmup_steps,
      "\nweight_decay=", absl::StrFormat("%.17g", r.weight_decay),
      "\naugment=", r.augment, "\nseed=", r.seed, "\nsuite=", suite_hash, "\n");
}

torch::Tensor HeavyAugment(const torch::Tensor& images, int64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2),
                w = images.size(3);
  auto uniform = [&](std::vector<int64_t> shape, double lo, double hi) {
    return lo + (hi - lo) * torch::rand(shape, gen);
  };
  // Each op is drawn per image: computed for the batch, kept where the image's coin says.
  auto chance = [&](double p) { return torch::rand({n, 1, 1, 1}, gen) < p; };

  // Geometry: random crop with 4 px reflection padding, horizontal flip.
  torch::Tensor padded = torch::nn::functional::pad(
      images, torch::nn::functional::PadFuncOptions({4, 4, 4, 4}).mode(torch::kReflect));
  torch::Tensor offsets = torch::randint(0, 9, {n, 2}, gen, torch::kLong);
  torch::Tensor flips = torch::rand({n}, gen) < 0.5;
  torch::Tensor x = torch::empty_like(images);
  auto off = offsets.accessor<int64_t, 2>();
  auto flip = flips.accessor<bool, 1>();
  for (int64_t i = 0; i < n; ++i) {
    torch::Tensor img =
        padded[i].slice(1, off[i][0], off[i][0] + h).slice(2, off[i][1], off[i][1] + w);
    x[i].copy_(flip[i] ? img.flip({2}) : img);
  }
  // Photometric ops (RandAugment's vocabulary) on [0, 1] intensities.
  x = (x + 1) * 0.5;
  // Colour: contrast about the image mean, per-channel gain and offset (a tint).
  torch::Tensor mean = x.mean({1, 2, 3}, true);
  x = (x - mean) * uniform({n, 1, 1, 1}, 0.5, 1.5) + mean;
  x = x * uniform({n, c, 1, 1}, 0.6, 1.4) + uniform({n, c, 1, 1}, -0.25, 0.25);
  x = x.clamp(0.0, 1.0);
  // Posterize to 2–4 levels; solarize above a threshold; invert.
  torch::Tensor levels = torch::randint(2, 5, {n, 1, 1, 1}, gen).to(x.dtype());
  x = torch::where(chance(0.2),
                   torch::floor(x * levels).clamp_max(levels - 1) / (levels - 1), x);
  torch::Tensor threshold = uniform({n, 1, 1, 1}, 0.5, 0.9);
  x = torch::where(chance(0.15) & (x > threshold), 1 - x, x);
  x = torch::where(chance(0.25), 1 - x, x);
  // Blur (3×3 binomial kernel) or sharpen.
  torch::Tensor k1 = torch::tensor({0.25f, 0.5f, 0.25f});
  torch::Tensor kernel = torch::outer(k1, k1).expand({c, 1, 3, 3}).contiguous();
  torch::Tensor blurred = torch::nn::functional::conv2d(
      torch::nn::functional::pad(
          x, torch::nn::functional::PadFuncOptions({1, 1, 1, 1}).mode(torch::kReplicate)),
      kernel, torch::nn::functional::Conv2dFuncOptions().groups(c));
  torch::Tensor blur_or_sharpen = torch::rand({n, 1, 1, 1}, gen);
  x = torch::where(blur_or_sharpen < 0.2, blurred, x);
  x = torch::where(blur_or_sharpen > 0.9, (2 * x - blurred).clamp(0.0, 1.0), x);
  // Gaussian noise; random erasing of an 8×8 box.
  x = x + torch::randn(x.sizes(), gen) * uniform({n, 1, 1, 1}, 0.0, 0.08);
  torch::Tensor erase = torch::rand({n}, gen) < 0.5;
  torch::Tensor boxes = torch::randint(0, h - 8, {n, 2}, gen, torch::kLong);
  auto er = erase.accessor<bool, 1>();
  auto box = boxes.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    if (er[i])
      x[i].slice(1, box[i][0], box[i][0] + 8)
          .slice(2, box[i][1], box[i][1] + 8)
          .fill_(0.5);
  }
  return (x * 2 - 1).clamp(-1.0, 1.0);
}

torch::Tensor MixedAugment(const torch::Tensor& images, int64_t seed) {
  torch::NoGradGuard no_grad;
  // A generator of its own, so the coins do not shift HeavyAugment's draws.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed) ^
                                                      0x6d69786564ULL);
  torch::Tensor heavy = torch::rand({images.size(0), 1, 1, 1}, gen) < 0.5;
  return torch::where(heavy, HeavyAugment(images, seed), images);
}

namespace {

// Pretrain without the boundary around its set-up.
absl::StatusOr<std::vector<PretrainOutcome>> PretrainUnguarded(
    const std::vector<PretrainRecipe>& recipes, const PretrainOptions& options,
    EventSink* sink) {
  if (options.out_dir.empty()) return absl::InvalidArgumentError("no output folder");
  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create ", options.out_dir, ": ", ec.message()));
  }
  if (options.threads > 0) SetCpuThreads(options.threads, ThreadPolicy::kOpenMp);
  RIB_ASSIGN_OR_RETURN(data::FmnistManifest manifest,
                       data::BuildFmnistRib(options.data_root, data::FmnistRibOptions{}));
  data::DatasetOptions data_options;
  data_options.data_root = options.data_root;
  data_options.preprocessing = spec::DefaultPreprocessing("fmnist_vit");

  // Validation images, loaded once.
  RIB_ASSIGN_OR_RETURN(
      std::unique_ptr<data::DatasetSource> val,
      data::OpenDataset(spec::SuitePretrainDataset("fmnist-rib"), data_options));
  torch::Tensor val_images, val_labels;
  RIB_RETURN_IF_ERROR(LoadAll(*val, val->examples(), &val_images, &val_labels));
  std::unique_ptr<data::DatasetSource> train;

  std::vector<PretrainOutcome> outcomes;
  for (const PretrainRecipe& recipe : recipes) {
    auto pretrain_one = [&]() -> absl::Status {
      RIB_RETURN_IF_ERROR(ValidateName(recipe.name, "pre-training recipe name"));
      if (recipe.augment != "none" && recipe.augment != "heavy" &&
          recipe.augment != "mixed") {
        return absl::InvalidArgumentError(absl::StrCat(
            "recipe ", recipe.name, ": unknown augment '", recipe.augment,
            "' (expected none, heavy or mixed)"));
      }
      PretrainOutcome outcome;
      outcome.name = recipe.name;
      outcome.path = absl::StrCat(options.out_dir, "/", recipe.name, ".safetensors");
      const std::string config_hash =
          Sha256Hex(PretrainConfigText(recipe, manifest.hash));
      Classifier model{nullptr};
      if (!options.force && std::filesystem::exists(outcome.path, ec)) {
        auto cached = CachedConfigHash(outcome.path);
        if (cached.ok() && *cached == config_hash) {
          RIB_ASSIGN_OR_RETURN(model, LoadClassifier(recipe.arch, 10, outcome.path));
          outcome.cached = true;
        }
      }
      if (!outcome.cached) {
        if (train == nullptr) {
          RIB_ASSIGN_OR_RETURN(
              train, data::OpenDataset(spec::SuiteTrainDataset("fmnist-rib"), data_options));
        }
        // A seeded subset of the pre-training set.
        std::vector<data::Example> examples = train->examples();
        auto gen =
            at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(recipe.seed));
        torch::Tensor order =
            torch::randperm(static_cast<int64_t>(examples.size()), gen, torch::kLong);
        const int64_t n = recipe.train_examples > 0
                              ? std::min<int64_t>(recipe.train_examples, examples.size())
                              : static_cast<int64_t>(examples.size());
        std::vector<data::Example> chosen;
        auto order_acc = order.accessor<int64_t, 1>();
        for (int64_t i = 0; i < n; ++i) chosen.push_back(examples[order_acc[i]]);
        torch::Tensor images, labels;
        RIB_RETURN_IF_ERROR(LoadAll(*train, chosen, &images, &labels));

        torch::manual_seed(static_cast<uint64_t>(recipe.seed));
        RIB_ASSIGN_OR_RETURN(model, CreateModel(recipe.arch, 10));
        TensorTrainData::Options data_opts;
        data_opts.batch_size = recipe.batch_size;
        data_opts.seed = recipe.seed;
        data_opts.drop_last = true;
        if (recipe.augment == "heavy") data_opts.augment = HeavyAugment;
        if (recipe.augment == "mixed") data_opts.augment = MixedAugment;
        TensorTrainData data(images, labels, data_opts);
        MethodSpec ft{"ft", "ft"};
        MethodContext context;
        context.model = model;
        context.mask = LabelMask::Identity(10);
        RIB_ASSIGN_OR_RETURN(std::unique_ptr<TrainingMethod> method,
                             TrainingMethod::Create(ft, context));
        TrainOptions train_options;
        train_options.config.optimizer = recipe.optimizer;
        train_options.config.lr = recipe.lr;
        train_options.config.epochs = recipe.epochs;
        train_options.config.warmup_steps = recipe.warmup_steps;
        train_options.config.weight_decay = recipe.weight_decay;
        train_options.config.seed = recipe.seed;
        train_options.config.precision = "fp32";
        const absl::Time start = absl::Now();
        RIB_LOG(INFO) << "pre-training " << recipe.name << " (" << recipe.arch << ", "
                      << n << " images, " << recipe.epochs << " epochs, augment "
                      << recipe.augment << ")";
        RIB_RETURN_IF_ERROR(Train(method->setup(), data, train_options, sink).status());
        RIB_RETURN_IF_ERROR(method->Finish());
        outcome.seconds = absl::ToDoubleSeconds(absl::Now() - start);
        RIB_RETURN_IF_ERROR(SaveClassifier(model, outcome.path,
                                           {{"config_hash", config_hash},
                                            {"arch", recipe.arch},
                                            {"recipe", recipe.name}}));
      }
      RIB_ASSIGN_OR_RETURN(SubsetCount counts,
                           EvaluateVal(model, val_images, val_labels));
      outcome.val_correct = counts.correct;
      outcome.val_total = counts.total;
      outcomes.push_back(outcome);
      return absl::OkStatus();
    };
    // Each recipe's LibTorch exception boundary (torch_errors.h), naming it.
    RIB_RETURN_IF_ERROR(
        TorchBoundary(absl::StrCat("pre-training ", recipe.name), pretrain_one));
  }
  return outcomes;
}

}  // namespace

absl::StatusOr<std::vector<PretrainOutcome>> Pretrain(
    const std::vector<PretrainRecipe>& recipes, const PretrainOptions& options,
    EventSink* sink) {
  // The entry point's LibTorch exception boundary for the set-up (loading fmnist-val);
  // each recipe has its own, naming it.
  return TorchBoundary("pre-training",
                       [&] { return PretrainUnguarded(recipes, options, sink); });
}

}  // namespace rib::engine
