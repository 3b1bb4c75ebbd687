#include "worker/engine/runner.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/status_macros.h"
#include "spec/methods.h"
#include "spec/suites.h"
#include "worker/data/eval_cache.h"
#include "worker/data/loader.h"
#include "worker/data/source.h"
#include "worker/engine/collectives.h"
#include "worker/engine/evaluate.h"
#include "worker/engine/label_mask.h"
#include "worker/engine/methods.h"
#include "worker/engine/otdd.h"
#include "worker/engine/precision.h"
#include "worker/engine/safetensors.h"
#include "worker/engine/threads.h"
#include "worker/engine/torch_errors.h"
#include "worker/engine/trainer.h"
#include "worker/engine/weights.h"

namespace rib::engine {
namespace {

void MoveBatch(data::Batch& in, Batch* out) {
  out->images = std::move(in.images);
  out->labels = std::move(in.labels);
  out->subsets = std::move(in.subsets);
  out->indices = std::move(in.indices);
  out->skipped = in.skipped;
}

class LoaderStream : public BatchStream {
 public:
  explicit LoaderStream(std::unique_ptr<data::BatchLoader> loader)
      : loader_(std::move(loader)) {}
  absl::StatusOr<bool> Next(Batch* batch) override {
    data::Batch in;
    RIB_ASSIGN_OR_RETURN(bool more, loader_->Next(&in));
    if (more) MoveBatch(in, batch);
    return more;
  }

 private:
  std::unique_ptr<data::BatchLoader> loader_;
};

// The fine-tune dataset's train split through the data library's loader.
class LoaderTrainData : public TrainData {
 public:
  LoaderTrainData(const data::DatasetSource* source, std::vector<data::Example> examples,
                  data::LoaderOptions options)
      : source_(source), examples_(std::move(examples)), options_(options) {}
  int64_t steps_per_epoch() const override {
    const int64_t global = static_cast<int64_t>(options_.batch_size) * options_.world_size;
    const int64_t n = static_cast<int64_t>(examples_.size());
    return options_.drop_last ? n / global : (n + global - 1) / global;
  }
  absl::StatusOr<std::unique_ptr<BatchStream>> Epoch(int epoch) override {
    data::LoaderOptions options = options_;
    options.epoch = epoch;
    RIB_ASSIGN_OR_RETURN(std::unique_ptr<data::BatchLoader> loader,
                         data::BatchLoader::Create(source_, examples_, options));
    return std::unique_ptr<BatchStream>(std::make_unique<LoaderStream>(std::move(loader)));
  }

 private:
  const data::DatasetSource* source_;
  std::vector<data::Example> examples_;
  data::LoaderOptions options_;
};

absl::StatusOr<torch::Device> ParseDevice(const std::string& name) {
  try {
    torch::Device device(name);
    if (device.is_cuda() && !torch::cuda::is_available()) {
      return absl::FailedPreconditionError(
          absl::StrCat("device '", name, "' requested but CUDA is not available"));
    }
    if (!device.is_cpu() && !device.is_cuda()) {
      return absl::InvalidArgumentError(absl::StrCat("unsupported device '", name, "'"));
    }
    return device;
  } catch (const c10::Error&) {
    return absl::InvalidArgumentError(absl::StrCat("unknown device '", name, "'"));
  }
}

// Opens an input the job names: confined to the artifact root when there is one (the
// worker's jobs), as given otherwise (rib-run's own files); regular files only.
absl::StatusOr<InputFile> OpenInput(const RunOptions& options, const std::string& path,
                                    absl::string_view what) {
  if (options.artifact_root.empty()) return OpenRegularFile(path, what);
  return OpenUnder(options.artifact_root, path, what);
}

absl::StatusOr<Classifier> LoadModel(const ModelSpec& model, const RunOptions& options) {
  if (model.weights.empty()) {
    RIB_LOG(WARNING) << "model '" << model.name << "' has no weights: random initialisation";
    return CreateModel(model.arch, model.num_classes);
  }
  RIB_ASSIGN_OR_RETURN(InputFile file, OpenInput(options, model.weights, "model weights"));
  if (!model.weights_digest.empty()) {
    // The file the coordinator hashed (and judged, e.g. not TorchScript) at submit, not
    // one put in its place since: the job's hash and results are for those bytes.
    RIB_ASSIGN_OR_RETURN(std::string digest, Sha256Fd(file.fd(), file.path()));
    if (digest != model.weights_digest) {
      return absl::FailedPreconditionError(absl::StrCat(
          "model weights '", model.weights, "' (", file.path(),
          ") changed since the sweep was submitted: sha256 ", digest, ", expected ",
          model.weights_digest));
    }
  }
  return LoadClassifier(model.arch, model.num_classes, std::move(file));
}

absl::StatusOr<TensorMap> ReadWeightsFile(const JobSpec& spec, const RunOptions& options,
                                          const std::string& method_name) {
  auto it = options.dependency_weights.find(method_name);
  if (it == options.dependency_weights.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "method '", spec.method.name, "' needs the weights of '", method_name,
        "' (no dependency_weights entry)"));
  }
  RIB_ASSIGN_OR_RETURN(InputFile file,
                       OpenInput(options, it->second, "dependency weights"));
  RIB_ASSIGN_OR_RETURN(Classifier model, CreateModel(spec.model.arch, spec.model.num_classes));
  RIB_RETURN_IF_ERROR(LoadSafetensorsInto(*model, std::move(file)));
  return CloneWeights(ModelWeights(*model));
}

// The dependency a method reads, by its role (spec/methods.h): `role` when present,
// else the only dependency given.
std::string DependencyName(const RunOptions& options, const std::string& role) {
  if (options.dependency_weights.count(role) || options.dependency_weights.size() != 1) {
    return role;
  }
  return options.dependency_weights.begin()->first;
}

absl::Status MakeParentDir(const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<data::DatasetOptions> DataOptions(const JobSpec& spec,
                                                 const RunOptions& options) {
  if (options.data_root.empty()) return absl::InvalidArgumentError("no data root given");
  data::DatasetOptions data_options;
  data_options.data_root = options.data_root;
  data_options.preprocessing = spec.model.preprocessing;
  data_options.split = spec.split;
  data_options.test_fraction = spec.test_fraction;
  data_options.seed = spec.training.seed;
  data_options.skip_corrupt = spec.training.skip_corrupt;
  data_options.objectnet_mode = spec.objectnet_mode;
  return data_options;
}

// ewc's Fisher sample (spec/methods.h): `fisher_samples` examples of the train side of
// the Fisher dataset's split, the first of a permutation seeded with the job's seed (so
// the same list for any number of ranks), read in that order, each rank taking its
// contiguous share of every global batch (the loader's sharding): disjoint shards that
// together are the whole sample. Members in declaration order: the stream reads the
// source.
struct FisherInput {
  std::unique_ptr<data::DatasetSource> source;
  std::unique_ptr<BatchStream> stream;
  LabelMask mask = LabelMask::Identity(1);
  std::vector<data::Example> train;  // the split side the sample is drawn from
};

absl::StatusOr<std::unique_ptr<FisherInput>> OpenFisherData(
    const JobSpec& spec, const RunOptions& options,
    const data::DatasetOptions& data_options, int64_t num_classes) {
  RIB_ASSIGN_OR_RETURN(std::string key, rib::spec::EwcFisherDataset(spec));
  RIB_ASSIGN_OR_RETURN(int64_t samples,
                       rib::spec::MethodParamInt(spec.method, "fisher_samples"));
  auto input = std::make_unique<FisherInput>();
  absl::StatusOr<std::unique_ptr<data::DatasetSource>> source =
      data::OpenDataset(key, data_options);
  if (!source.ok())
    return Annotate(source.status(), absl::StrCat("ewc's fisher_dataset ", key));
  input->source = *std::move(source);
  RIB_ASSIGN_OR_RETURN(data::Split split,
                       data::SplitDataset(*input->source, data_options));
  const int64_t n = static_cast<int64_t>(split.train.size());
  if (n == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("ewc's fisher_dataset ", key, " has no example on the train side"));
  }
  at::Generator generator =
      at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(spec.training.seed));
  const torch::Tensor order = torch::randperm(n, generator, torch::kLong);
  const int64_t taken = std::min(samples, n);
  if (taken < samples) {
    RIB_LOG(INFO) << "ewc: fisher_samples " << samples << " but " << key << " has " << n
                  << " training examples: the Fisher uses all of them";
  }
  std::vector<data::Example> chosen;
  for (int64_t i = 0; i < taken; ++i)
    chosen.push_back(split.train[order[i].item<int64_t>()]);
  input->train = std::move(split.train);
  RIB_ASSIGN_OR_RETURN(input->mask,
                       LabelMask::Create(input->source->label_space(), num_classes));
  data::LoaderOptions loader_options;
  loader_options.batch_size = std::min(spec.training.eval_batch_size, 64);
  loader_options.shuffle = false;
  loader_options.rank = GroupRank(options.group);
  loader_options.world_size = GroupSize(options.group);
  loader_options.threads = options.threads;
  loader_options.skip_corrupt = spec.training.skip_corrupt;
  RIB_ASSIGN_OR_RETURN(
      std::unique_ptr<data::BatchLoader> loader,
      data::BatchLoader::Create(input->source.get(), std::move(chosen), loader_options));
  input->stream = std::make_unique<LoaderStream>(std::move(loader));
  return input;
}

// Pre-logit features (eval mode, no grad) of up to `max_samples` examples of the train
// side of `key`, a sample seeded by `seed` (the whole side when it is smaller).
absl::StatusOr<LabeledFeatures> SampleFeatures(const std::string& key, int64_t max_samples,
                                               uint64_t seed, const JobSpec& spec,
                                               const RunOptions& options,
                                               const data::DatasetOptions& data_options,
                                               Classifier& model, torch::Device device,
                                               EventSink* sink) {
  absl::StatusOr<std::unique_ptr<data::DatasetSource>> source =
      data::OpenDataset(key, data_options);
  if (!source.ok()) return Annotate(source.status(), absl::StrCat("otdd: dataset ", key));
  RIB_ASSIGN_OR_RETURN(data::Split split, data::SplitDataset(**source, data_options));
  const int64_t n = static_cast<int64_t>(split.train.size());
  if (n == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("otdd: dataset ", key, " has no example on the train side"));
  }
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const torch::Tensor order = torch::randperm(n, generator, torch::kLong);
  std::vector<data::Example> chosen;
  for (int64_t i = 0; i < std::min(max_samples, n); ++i)
    chosen.push_back(split.train[order[i].item<int64_t>()]);
  data::LoaderOptions loader_options;
  loader_options.batch_size = spec.training.eval_batch_size;
  loader_options.shuffle = false;
  loader_options.threads = options.threads;
  loader_options.skip_corrupt = spec.training.skip_corrupt;
  // Every rank extracts all of it (rank 0 reports): the sample is small next to a
  // fine-tuning, and OTDD needs all the features in one place.
  RIB_ASSIGN_OR_RETURN(
      std::unique_ptr<data::BatchLoader> loader,
      data::BatchLoader::Create(source->get(), std::move(chosen), loader_options));
  std::vector<torch::Tensor> features, labels;
  torch::NoGradGuard no_grad;
  data::Batch batch;
  while (true) {
    RIB_ASSIGN_OR_RETURN(bool more, loader->Next(&batch));
    if (!more) break;
    features.push_back(model->Features(batch.images.to(device)).to(torch::kCPU).to(
        torch::kFloat));
    labels.push_back(batch.labels);
    if (sink != nullptr) sink->OnAlive();
  }
  if (features.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("otdd: no example of ", key, " could be decoded"));
  }
  return LabeledFeatures{torch::cat(features), torch::cat(labels)};
}

// An otdd job: OTDD(suite's pre-training set, finetune_dataset) on the model's
// features, reported through the sink (rank 0's is forwarded).
absl::Status RunOtdd(const JobSpec& spec, const RunOptions& options,
                     const data::DatasetOptions& data_options, Classifier& model,
                     torch::Device device, EventSink* sink) {
  const std::string source = rib::spec::SuitePretrainDataset(spec.suite);
  if (source.empty() || spec.finetune_dataset.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "otdd job needs a suite with a pre-training set (suite '", spec.suite,
        "') and a finetune_dataset ('", spec.finetune_dataset, "')"));
  }
  RIB_ASSIGN_OR_RETURN(int64_t max_samples,
                       rib::spec::MethodParamInt(spec.method, "max_samples"));
  OtddOptions otdd;
  RIB_ASSIGN_OR_RETURN(otdd.epsilon, rib::spec::MethodParamReal(spec.method, "epsilon"));
  model->eval();
  const uint64_t seed = static_cast<uint64_t>(spec.training.seed);
  RIB_ASSIGN_OR_RETURN(LabeledFeatures a,
                       SampleFeatures(source, max_samples, seed, spec, options,
                                      data_options, model, device, sink));
  RIB_ASSIGN_OR_RETURN(LabeledFeatures b,
                       SampleFeatures(spec.finetune_dataset, max_samples, seed, spec,
                                      options, data_options, model, device, sink));
  RIB_ASSIGN_OR_RETURN(OtddResult r, DatasetDistance(a, b, otdd));
  if (!r.converged) {
    RIB_LOG(WARNING) << "otdd " << source << " -> " << spec.finetune_dataset
                     << ": Sinkhorn did not meet its tolerance in " << otdd.max_iterations
                     << " iterations; the distance is reported with converged = false";
  }
  if (sink != nullptr) {
    sink->OnDistance({source, spec.finetune_dataset, r.distance, r.examples_a,
                      r.examples_b, otdd.epsilon, r.converged});
  }
  return absl::OkStatus();
}

// Whether any rank asks to stop: one tiny all-reduce, so every rank decides alike.
// Called by every rank at the same points, whether or not it has a flag.
absl::StatusOr<bool> AnyRankStops(const RunOptions& options) {
  torch::Tensor wants = torch::zeros({1}, torch::kLong);
  if (options.stop != nullptr && options.stop->load()) wants[0] = 1;
  RIB_RETURN_IF_ERROR(AllReduceSum(options.group, {wants}));
  return wants.item<int64_t>() > 0;
}

// The examples of `source` that a job which trained on every entry of `trained` is
// evaluated on: EvaluationSet (source.h) for each, intersected, in source order.
// Nothing trained on: EvaluationSet with an empty TrainedOn (all of the dataset).
std::vector<data::Example> EvaluationList(const data::DatasetSource& source,
                                          const data::Split& split,
                                          const std::vector<data::TrainedOn>& trained,
                                          const data::DatasetOptions& data_options) {
  if (trained.empty()) return data::EvaluationSet(source, split, {}, data_options);
  std::vector<data::Example> out =
      data::EvaluationSet(source, split, trained[0], data_options);
  for (size_t t = 1; t < trained.size(); ++t) {
    std::set<int64_t> keep;
    for (const data::Example& e :
         data::EvaluationSet(source, split, trained[t], data_options))
      keep.insert(e.index);
    out.erase(std::remove_if(out.begin(), out.end(),
                             [&keep](const data::Example& e) {
                               return keep.count(e.index) == 0;
                             }),
              out.end());
  }
  return out;
}

// Evaluates spec.eval_datasets in order, appending their rows; sets *stopped and
// returns early when asked to stop before a dataset. `trained`: what the weights were
// trained on (EvaluationList).
absl::Status EvaluateAll(const JobSpec& spec, const RunOptions& options,
                         const data::DatasetOptions& data_options,
                         const std::vector<data::TrainedOn>& trained,
                         const ForwardFn& forward, int64_t num_classes,
                         torch::Device device, EventSink* sink,
                         std::vector<ResultRow>* results, bool* stopped) {
  std::unique_ptr<data::EvalCache> cache;
  if (!options.eval_cache_root.empty()) {
    data::EvalCacheOptions cache_options;
    cache_options.root = options.eval_cache_root;
    if (options.eval_cache_max_bytes > 0) cache_options.max_bytes = options.eval_cache_max_bytes;
    cache_options.threads = options.threads;
    RIB_ASSIGN_OR_RETURN(cache, data::EvalCache::Create(std::move(cache_options)));
  }
  for (const std::string& key : spec.eval_datasets) {
    RIB_ASSIGN_OR_RETURN(*stopped, AnyRankStops(options));
    if (*stopped) {
      RIB_LOG(INFO) << "stopped on request before evaluating " << key << " ("
                    << results->size() << " rows done)";
      return absl::OkStatus();
    }
    const absl::Time start = absl::Now();
    RIB_ASSIGN_OR_RETURN(std::unique_ptr<data::DatasetSource> source,
                         data::OpenDataset(key, data_options));
    const absl::Time opened = absl::Now();
    RIB_ASSIGN_OR_RETURN(data::Split split, data::SplitDataset(*source, data_options));
    const std::vector<data::Example> evaluated =
        EvaluationList(*source, split, trained, data_options);
    absl::StatusOr<LabelMask> mask_or = LabelMask::Create(source->label_space(), num_classes);
    if (!mask_or.ok()) return Annotate(mask_or.status(), key);
    const LabelMask& mask = *mask_or;
    EvaluateOptions eval_options;
    eval_options.device = device;
    eval_options.group = options.group;
    eval_options.sink = sink;
    eval_options.subsets = source->subsets();
    RIB_ASSIGN_OR_RETURN(eval_options.precision,
                         ResolveEvalPrecision(spec.training.precision, device));
    // Each example's position among ALL the dataset's examples of its subset, in
    // source order: the per-image bits (robustness_bootstrap.h) of every job share one
    // bit space per dataset, whichever part of it the job evaluated.
    std::map<std::string, int64_t> bits, expected;
    eval_options.bit_position.assign(source->examples().size(), -1);
    for (const auto& example : source->examples()) {
      if (example.index >= 0 &&
          example.index < static_cast<int64_t>(eval_options.bit_position.size()))
        eval_options.bit_position[example.index] = bits[example.subset];
      bits[example.subset] += 1;
    }
    for (const auto& example : evaluated) expected[example.subset] += 1;
    if (eval_options.subsets.empty()) {
      eval_options.expected_totals = {static_cast<int64_t>(evaluated.size())};
      eval_options.bit_sizes = {static_cast<int64_t>(source->examples().size())};
    } else {
      for (const auto& s : eval_options.subsets) {
        eval_options.expected_totals.push_back(expected[s]);
        eval_options.bit_sizes.push_back(bits[s]);
      }
    }
    data::LoaderOptions loader_options;
    loader_options.batch_size = spec.training.eval_batch_size;
    loader_options.shuffle = false;
    loader_options.rank = GroupRank(options.group);
    loader_options.world_size = GroupSize(options.group);
    loader_options.threads = options.threads;
    loader_options.skip_corrupt = spec.training.skip_corrupt;
    // The pixels from the node's cache when it has them (or can keep them): all of
    // the dataset's, so one entry per (dataset, preprocessing) serves every job,
    // whichever part of it the job evaluates.
    std::unique_ptr<data::DatasetSource> cached;
    if (cache != nullptr) {
      absl::StatusOr<std::unique_ptr<data::DatasetSource>> cached_or =
          cache->Open(*source, source->examples(), data_options, [sink] {
            if (sink != nullptr) sink->OnAlive();
          });
      if (!cached_or.ok()) return Annotate(cached_or.status(), key);
      cached = *std::move(cached_or);
    }
    RIB_ASSIGN_OR_RETURN(
        std::unique_ptr<data::BatchLoader> loader,
        data::BatchLoader::Create(cached != nullptr ? cached.get() : source.get(),
                                  evaluated, loader_options));
    LoaderStream stream(std::move(loader));
    absl::StatusOr<std::vector<SubsetCount>> counts_or =
        Evaluate(forward, stream, mask, eval_options);
    if (!counts_or.ok()) return Annotate(counts_or.status(), absl::StrCat("evaluating ", key));
    const std::vector<SubsetCount>& counts = *counts_or;
    for (const auto& c : counts) {
      ResultRow row{key,     c.subset,       c.correct,
                    c.total, c.skipped,      c.correct_bits,
                    c.evaluated_bits};
      if (sink != nullptr) sink->OnResultRow(row);
      results->push_back(std::move(row));
    }
    RIB_LOG(DEBUG) << "evaluated " << key << " (" << evaluated.size() << " of "
                   << source->examples().size() << " examples) in "
                   << absl::FormatDuration(absl::Now() - start) << " (opening "
                   << absl::FormatDuration(opened - start) << ")";
  }
  return absl::OkStatus();
}

// RunJob without its exception boundary.
absl::StatusOr<RunResult> RunJobUnguarded(const JobSpec& spec, const RunOptions& options,
                                          EventSink* sink) {
  RIB_RETURN_IF_ERROR(rib::spec::ValidateMethod(spec.method));
  RIB_ASSIGN_OR_RETURN(torch::Device device, ParseDevice(options.device));
  const int world = GroupSize(options.group);
  const TrainingConfig& config = spec.training;
  torch::manual_seed(static_cast<uint64_t>(config.seed));

  if (!options.resume_checkpoint.empty()) {
    // Confined like every input; the trainer reads it again by path (a checkpoint is
    // the workers' own output, so only the check that it is under the root matters).
    // A missing one is the trainer's to handle (it starts from an older one, or from
    // scratch); one outside the root, or not a regular file, is refused.
    absl::Status confined =
        OpenInput(options, options.resume_checkpoint, "resume checkpoint").status();
    if (!confined.ok() && !absl::IsNotFound(confined)) return confined;
  }
  RIB_ASSIGN_OR_RETURN(Classifier model, LoadModel(spec.model, options));
  const ThreadPolicy policy = PreferredThreadPolicy(*model);
  SetCpuThreads(options.threads, policy);
  RIB_LOG(INFO) << "CPU threads " << options.threads << " for "
                 << (policy == ThreadPolicy::kBlas ? "BLAS" : "OpenMP") << ", OpenBLAS core '"
                 << BlasCoreName() << "'";
  if (spec.model.preprocessing.image_size != model->image_size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model '", spec.model.name, "' (", spec.model.arch, ") takes ", model->image_size(),
        " px images but its preprocessing produces ", spec.model.preprocessing.image_size));
  }
  RIB_ASSIGN_OR_RETURN(data::DatasetOptions data_options, DataOptions(spec, options));
  const std::string& kind = spec.method.kind;
  RunResult result;
  result.weights_path = spec.model.weights;
  if (kind == rib::spec::kOtddKind) {
    model->to(device);
    RIB_RETURN_IF_ERROR(RunOtdd(spec, options, data_options, model, device, sink));
    return result;
  }

  // Starting weights for methods that build on other jobs.
  if (kind == "lpft" || kind == "wise-ft") {
    const std::string role = rib::spec::MethodDependencyKind(kind);
    RIB_ASSIGN_OR_RETURN(TensorMap base,
                         ReadWeightsFile(spec, options, DependencyName(options, role)));
    if (kind == "lpft") {
      RIB_RETURN_IF_ERROR(LoadWeights(*model, base));
    } else {
      RIB_ASSIGN_OR_RETURN(double alpha,
                           rib::spec::MethodParamReal(spec.method, "alpha"));
      RIB_ASSIGN_OR_RETURN(
          TensorMap mixed,
          InterpolateWeights(CloneWeights(ModelWeights(*model)), base, alpha));
      RIB_RETURN_IF_ERROR(LoadWeights(*model, mixed));
    }
  } else if (kind == "soup") {
    if (spec.method.members.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("soup '", spec.method.name, "' lists no members"));
    }
    // The listed members; θ_pre (the model as loaded) only when asked for.
    RIB_ASSIGN_OR_RETURN(std::string include_pre,
                         rib::spec::MethodParamChoice(spec.method, "include_pre"));
    std::vector<TensorMap> members;
    if (include_pre == "yes") members.push_back(CloneWeights(ModelWeights(*model)));
    for (const std::string& member : spec.method.members) {
      RIB_ASSIGN_OR_RETURN(TensorMap weights, ReadWeightsFile(spec, options, member));
      members.push_back(std::move(weights));
    }
    RIB_ASSIGN_OR_RETURN(TensorMap soup, AverageWeights(members));
    RIB_RETURN_IF_ERROR(LoadWeights(*model, soup));
  }
  model->to(device);

  ForwardFn forward;  // the evaluation forward, once the weights are final
  TensorMap extra_weights;
  std::unique_ptr<data::DatasetSource> train_source;
  // What the evaluated weights were trained on (EvaluationList): the train side of the
  // fine-tune dataset, for a job that trains and for wise-ft / soup, whose inputs
  // trained on it; for ewc also the Fisher sample's side of its dataset.
  std::vector<data::TrainedOn> trained;
  if (!rib::spec::MethodTrains(kind) && !spec.finetune_dataset.empty()) {
    RIB_ASSIGN_OR_RETURN(std::unique_ptr<data::DatasetSource> source,
                         data::OpenDataset(spec.finetune_dataset, data_options));
    RIB_ASSIGN_OR_RETURN(data::Split split, data::SplitDataset(*source, data_options));
    trained.push_back({spec.finetune_dataset, std::move(split.train)});
  }
  if (rib::spec::MethodTrains(kind)) {
    if (spec.finetune_dataset.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("method '", spec.method.name, "' trains but the job has no dataset"));
    }
    if (config.batch_size <= 0 || config.batch_size % world != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "batch size ", config.batch_size, " must be a positive multiple of the ", world,
          " ranks"));
    }
    RIB_ASSIGN_OR_RETURN(train_source, data::OpenDataset(spec.finetune_dataset, data_options));
    RIB_ASSIGN_OR_RETURN(data::Split split, data::SplitDataset(*train_source, data_options));
    trained.push_back({spec.finetune_dataset, split.train});
    data::LoaderOptions loader_options;
    loader_options.batch_size = config.batch_size / world;
    loader_options.shuffle = true;
    loader_options.seed = config.seed;
    loader_options.rank = GroupRank(options.group);
    loader_options.world_size = world;
    loader_options.threads = options.threads;
    loader_options.skip_corrupt = config.skip_corrupt;
    LoaderTrainData train_data(train_source.get(), std::move(split.train), loader_options);

    MethodContext context;
    context.model = model;
    RIB_ASSIGN_OR_RETURN(context.mask,
                         LabelMask::Create(train_source->label_space(), model->num_classes()));
    context.new_model = [&spec]() { return CreateModel(spec.model.arch, spec.model.num_classes); };
    std::unique_ptr<FisherInput> fisher;
    if (kind == "ewc") {
      RIB_ASSIGN_OR_RETURN(
          fisher, OpenFisherData(spec, options, data_options, model->num_classes()));
      context.fisher_data = fisher->stream.get();
      context.fisher_mask = fisher->mask;
      // The Fisher's labels shaped the weights too; its sample is drawn from that side.
      trained.push_back({fisher->source->key(), fisher->train});
    }
    context.device = device;
    context.group = options.group;
    context.seed = static_cast<uint64_t>(config.seed);
    RIB_ASSIGN_OR_RETURN(std::unique_ptr<TrainingMethod> method,
                         TrainingMethod::Create(spec.method, std::move(context)));
    TrainOptions train_options;
    train_options.config = config;
    train_options.device = device;
    train_options.checkpoint_dir = options.checkpoint_dir;
    train_options.resume_checkpoint = options.resume_checkpoint;
    train_options.group = options.group;
    train_options.stop = options.stop;
    if (!options.checkpoint_dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(options.checkpoint_dir, ec);
    }
    RIB_ASSIGN_OR_RETURN(TrainSummary summary,
                         Train(method->setup(), train_data, train_options, sink));
    result.steps = summary.steps;
    result.final_loss = summary.last_loss;
    result.checkpoint = summary.checkpoint;
    if (summary.stopped) {
      // Nothing final to save or evaluate: the resumed job does both.
      result.stopped = true;
      result.weights_path = "";
      return result;
    }
    RIB_RETURN_IF_ERROR(method->Finish());
    forward = method->EvalForward();
    extra_weights = method->ExtraWeights();
  }
  model->eval();
  if (!forward) forward = model->Inference();

  // Save the weights this job's results are for (rank 0; not for `pre`), where the
  // caller said.
  if (kind != "pre" && !options.weights_out.empty()) {
    if (GroupRank(options.group) == 0) {
      std::map<std::string, std::string> metadata = {{"arch", spec.model.arch},
                                                     {"method", spec.method.kind},
                                                     {"finetune", spec.finetune_dataset}};
      RIB_RETURN_IF_ERROR(MakeParentDir(options.weights_out));
      RIB_RETURN_IF_ERROR(SaveClassifier(model, options.weights_out, metadata));
      if (!extra_weights.empty()) {
        if (options.extra_weights_out.empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "method '", spec.method.name, "' saves tensors beside its weights (", kind,
              ") but no extra_weights_out was given"));
        }
        NamedTensors extra(extra_weights.begin(), extra_weights.end());
        RIB_RETURN_IF_ERROR(MakeParentDir(options.extra_weights_out));
        RIB_RETURN_IF_ERROR(WriteSafetensors(options.extra_weights_out, extra, metadata));
      }
    }
    result.weights_path = options.weights_out;
  }

  RIB_RETURN_IF_ERROR(EvaluateAll(spec, options, data_options, trained, forward,
                                  model->num_classes(), device, sink, &result.results,
                                  &result.stopped));
  return result;
}

}  // namespace

absl::StatusOr<RunResult> RunJob(const JobSpec& spec, const RunOptions& options,
                                 EventSink* sink) {
  // The job's one LibTorch exception boundary (torch_errors.h).
  const std::string job =
      absl::StrCat("job ", spec.model.name, "/", spec.method.name,
                   spec.finetune_dataset.empty() ? "" : "/", spec.finetune_dataset);
  return TorchBoundary(job, [&] { return RunJobUnguarded(spec, options, sink); });
}

}  // namespace rib::engine
