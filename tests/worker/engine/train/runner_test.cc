// RunJob end to end on FMNIST-RIB: results rows and events, saved weights, the
// dependency methods (lpft from lp, wise-ft, soup) read their inputs' weights, and a
// job asked to stop checkpoints and resumes to the uninterrupted result.
#include "worker/engine/runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "common/hash.h"
#include "common/robustness_bootstrap.h"
#include "spec/artifacts.h"
#include "spec/job_json.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/testing/tiny_job.h"
#include "worker/data/source.h"
#include "worker/engine/checkpoint.h"
#include "worker/engine/methods.h"
#include "worker/engine/model.h"
#include "worker/engine/weights.h"

namespace rib::engine {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

class Recorder : public EventSink {
 public:
  void OnProgress(int, int, int64_t step, int64_t steps, double loss, double) override {
    last_step = step;
    total_steps = steps;
  }
  void OnResult(const std::string& dataset, const std::string& subset, int64_t correct,
                int64_t total, int64_t skipped) override {
    results.push_back(dataset + "|" + subset);
  }
  void OnDistance(const DatasetDistanceRow& row) override { distances.push_back(row); }
  int64_t last_step = 0, total_steps = 0;
  std::vector<std::string> results;
  std::vector<DatasetDistanceRow> distances;
};

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(1);
    auto model = CreateModel("fmnist_vit", 10);
    ASSERT_THAT(model, IsOk());
    pre_path_ = artifacts_.Join("pre.safetensors");
    ASSERT_THAT(SaveClassifier(*model, pre_path_), IsOk());
  }

  // Tests that fine-tune on fmnist-v2 and only need some evaluation evaluate fmnist-v2:
  // held-out evaluation scores the fine-tune dataset on its test split alone, the
  // smallest evaluation there is (any other dataset is scored whole).
  JobSpec Spec(const std::string& kind) { return ::rib::testing::TinyFmnistJob(kind); }

  RunOptions Options() {
    RunOptions options;
    options.data_root = ::rib::testing::CachedDataRoot();
    options.artifact_root = artifacts_.path();
    options.threads = 2;
    return options;
  }

  // RunJob with the job's outputs at their place in the artifact layout, as the agent
  // and rib-run name them.
  absl::StatusOr<RunResult> Run(const JobSpec& spec, RunOptions options,
                                EventSink* sink) {
    const rib::spec::JobOutputs outputs =
        rib::spec::JobOutputPaths(artifacts_.path(), rib::spec::JobHash(spec));
    options.weights_out = outputs.weights;
    options.extra_weights_out = outputs.extra_weights;
    return RunJob(spec, options, sink);
  }

  static TensorMap Weights(const std::string& path) {
    auto model = LoadClassifier("fmnist_vit", 10, path);
    EXPECT_THAT(model, IsOk());
    return CloneWeights(ModelWeights(**model));
  }

  ScratchDir artifacts_;
  std::string pre_path_;
};

TEST_F(RunnerTest, FineTunesEvaluatesAndReportsRows) {
  Recorder recorder;
  RIB_ASSERT_OK_AND_ASSIGN(RunResult result, Run(Spec("ft"), Options(), &recorder));
  EXPECT_EQ(result.steps, 3);
  EXPECT_EQ(recorder.last_step, 3);
  EXPECT_EQ(recorder.total_steps, 3);
  ASSERT_TRUE(std::filesystem::exists(result.weights_path)) << result.weights_path;
  // fmnist-val: one row; fmnist-c: one row per corruption/severity (15 × 5).
  ASSERT_EQ(result.results.size(), 1u + 75u);
  EXPECT_EQ(result.results[0].dataset, "fmnist-val");
  EXPECT_EQ(result.results[0].subset, "");
  EXPECT_GT(result.results[0].total, 0);
  EXPECT_EQ(result.results[0].skipped, 0);
  EXPECT_EQ(result.results[1].dataset, "fmnist-c");
  EXPECT_THAT(result.results[1].subset, ::testing::MatchesRegex("[a-z_]+/[1-5]"));
  ASSERT_EQ(recorder.results.size(), result.results.size());
  EXPECT_EQ(recorder.results[0], "fmnist-val|");
  // Every row says which of its images were right: popcount(correct_bits) == correct,
  // all of them among the evaluated ones (a bit per image of the whole subset).
  for (const ResultRow& row : result.results) {
    const int64_t size = static_cast<int64_t>(row.correct_bits.size()) * 8;
    RIB_ASSERT_OK_AND_ASSIGN(int64_t right, CountBits(row.correct_bits, "", size));
    RIB_ASSERT_OK_AND_ASSIGN(int64_t evaluated_right,
                             CountBits(row.correct_bits, row.evaluated_bits, size));
    EXPECT_EQ(right, row.correct) << row.dataset << " " << row.subset;
    EXPECT_EQ(evaluated_right, row.correct) << row.dataset << " " << row.subset;
  }
  // Fine-tuning moved the weights.
  EXPECT_FALSE(torch::equal(Weights(result.weights_path).at("head.weight"),
                            Weights(pre_path_).at("head.weight")));
}

bool BitSet(const std::string& bits, int64_t k) {
  return (static_cast<unsigned char>(bits[k >> 3]) >> (k & 7)) & 1;
}

// The examples a result row says were evaluated: bit k of its subset is the k-th of
// the dataset's examples of that subset, in source order.
std::vector<data::Example> EvaluatedExamples(const data::DatasetSource& source,
                                             const ResultRow& row) {
  std::vector<data::Example> out;
  int64_t k = 0;
  for (const data::Example& e : source.examples()) {
    if (e.subset != row.subset) continue;
    if (row.evaluated_bits.empty() || BitSet(row.evaluated_bits, k)) out.push_back(e);
    ++k;
  }
  return out;
}

// The data options the runner derives from `spec` (DataOptions in runner.cc).
data::DatasetOptions DataOptionsOf(const JobSpec& spec) {
  data::DatasetOptions options;
  options.data_root = ::rib::testing::CachedDataRoot();
  options.preprocessing = spec.model.preprocessing;
  options.split = spec.split;
  options.test_fraction = spec.test_fraction;
  options.seed = spec.training.seed;
  return options;
}

std::set<int64_t> Indices(const std::vector<data::Example>& examples) {
  std::set<int64_t> out;
  for (const data::Example& e : examples) out.insert(e.index);
  return out;
}

// Issue 15.9: a job fine-tuned on i is evaluated on j != i on every image of j that
// shares no source image with i's train side (EvaluationSet; for FMNIST-RIB, whose sets
// are disjoint shards, all of j), on the diagonal on i's test split, and each row's
// bits say exactly which images those were, in one bit space per dataset.
TEST_F(RunnerTest, HeldOutEvaluationScoresEveryImageNotTrainedOn) {
  JobSpec spec = Spec("ft");
  spec.eval_datasets = {"fmnist-v2", "fmnist-a"};  // i = fmnist-v2
  RIB_ASSERT_OK_AND_ASSIGN(RunResult result, Run(spec, Options(), nullptr));
  ASSERT_EQ(result.results.size(), 2u);
  const data::DatasetOptions options = DataOptionsOf(spec);
  RIB_ASSERT_OK_AND_ASSIGN(auto train_source, data::OpenDataset("fmnist-v2", options));
  RIB_ASSERT_OK_AND_ASSIGN(data::Split train_split,
                           data::SplitDataset(*train_source, options));
  std::set<std::string> trained_sources;
  for (const data::Example& e : train_split.train) trained_sources.insert(e.source);
  const std::set<int64_t> trained_indices = Indices(train_split.train);
  for (const ResultRow& row : result.results) {
    SCOPED_TRACE(row.dataset);
    RIB_ASSERT_OK_AND_ASSIGN(auto source, data::OpenDataset(row.dataset, options));
    RIB_ASSERT_OK_AND_ASSIGN(data::Split split, data::SplitDataset(*source, options));
    const std::vector<data::Example> expected = data::EvaluationSet(
        *source, split, {"fmnist-v2", train_split.train}, options);
    EXPECT_EQ(row.skipped, 0);
    EXPECT_EQ(row.total, static_cast<int64_t>(expected.size()));
    // One bit per image of the whole dataset.
    EXPECT_EQ(row.correct_bits.size(), (source->examples().size() + 7) / 8);
    const std::vector<data::Example> evaluated = EvaluatedExamples(*source, row);
    EXPECT_EQ(Indices(evaluated), Indices(expected));
    if (row.dataset == "fmnist-v2") {
      // The diagonal: the test split, not one training image.
      EXPECT_EQ(row.total, static_cast<int64_t>(split.test.size()));
      EXPECT_FALSE(row.evaluated_bits.empty());
      for (const data::Example& e : evaluated)
        EXPECT_EQ(trained_indices.count(e.index), 0u) << "example " << e.index;
    } else {
      // Off the diagonal: all of j, several times its test split.
      EXPECT_EQ(row.total, static_cast<int64_t>(source->examples().size()));
      EXPECT_GT(row.total, 3 * static_cast<int64_t>(split.test.size()));
      EXPECT_TRUE(row.evaluated_bits.empty());
    }
    // No evaluated image shows a source image trained on.
    for (const data::Example& e : evaluated) {
      if (!e.source.empty())
        EXPECT_EQ(trained_sources.count(e.source), 0u) << e.source;
    }
  }
}

// Every input a job names is opened under the artifact root (OpenUnder): a symlink out
// of it is refused naming the input and the path, a FIFO is refused at once.
TEST_F(RunnerTest, InputsAreConfinedToTheArtifactRoot) {
  ScratchDir outside;
  std::filesystem::copy_file(pre_path_, outside.Join("pre.safetensors"));
  std::filesystem::create_symlink(outside.Join("pre.safetensors"),
                                  artifacts_.Join("evil.safetensors"));
  JobSpec model_out = Spec("ft");
  model_out.model.weights = "evil.safetensors";
  EXPECT_THAT(Run(model_out, Options(), nullptr),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("model weights"), HasSubstr("evil.safetensors"))));
  RunOptions dependency_out = Options();
  dependency_out.dependency_weights = {{"lp", "evil.safetensors"}};
  EXPECT_THAT(Run(Spec("lpft"), dependency_out, nullptr),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("dependency weights"), HasSubstr("evil.safetensors"))));
  RunOptions resume_out = Options();
  resume_out.resume_checkpoint = "evil.safetensors";
  EXPECT_THAT(Run(Spec("ft"), resume_out, nullptr),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("resume checkpoint"), HasSubstr("evil.safetensors"))));
  ASSERT_EQ(::mkfifo(artifacts_.Join("fifo.safetensors").c_str(), 0600), 0);
  JobSpec fifo = Spec("ft");
  fifo.model.weights = "fifo.safetensors";
  EXPECT_THAT(Run(fifo, Options(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not a regular file")));
}

// The weights loaded are the bytes the coordinator hashed at submit (weights_digest):
// a file put in their place since (say, a TorchScript archive) is not loaded.
TEST_F(RunnerTest, ModelWeightsMustBeTheOnesSubmitted) {
  JobSpec spec = Spec("pre");
  spec.finetune_dataset = "";
  spec.eval_datasets = {"fmnist-a"};
  spec.model.weights_digest = std::string(64, '0');
  EXPECT_THAT(Run(spec, Options(), nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("pre.safetensors"), HasSubstr("changed since"))));
  RIB_ASSERT_OK_AND_ASSIGN(spec.model.weights_digest, Sha256File(pre_path_));
  EXPECT_THAT(Run(spec, Options(), nullptr), IsOk());
}

TEST_F(RunnerTest, PreEvaluatesThePretrainedWeightsWithoutTraining) {
  JobSpec spec = Spec("pre");
  spec.finetune_dataset = "";
  spec.eval_datasets = {"fmnist-a"};
  RIB_ASSERT_OK_AND_ASSIGN(RunResult result, Run(spec, Options(), nullptr));
  EXPECT_EQ(result.steps, 0);
  EXPECT_EQ(result.weights_path, "pre.safetensors");
  ASSERT_EQ(result.results.size(), 1u);
  // It trained on nothing: held-out evaluation scores all of the dataset (issue 15.9).
  RIB_ASSERT_OK_AND_ASSIGN(auto source,
                           data::OpenDataset("fmnist-a", DataOptionsOf(spec)));
  EXPECT_EQ(result.results[0].total, static_cast<int64_t>(source->examples().size()));
  EXPECT_TRUE(result.results[0].evaluated_bits.empty());
}

TEST_F(RunnerTest, DependencyMethodsReadTheirInputs) {
  // Their weights are what matters here, not their results: one small eval set.
  JobSpec lp_spec = Spec("lp"), ft_spec = Spec("ft");
  lp_spec.eval_datasets = ft_spec.eval_datasets = {"fmnist-v2"};
  RIB_ASSERT_OK_AND_ASSIGN(RunResult lp, Run(lp_spec, Options(), nullptr));
  RIB_ASSERT_OK_AND_ASSIGN(RunResult ft, Run(ft_spec, Options(), nullptr));

  // lpft starts from lp's weights: with lr 0 it ends exactly there.
  JobSpec lpft = Spec("lpft");
  lpft.training.lr = 0.0;
  lpft.eval_datasets = {"fmnist-v2"};
  RunOptions options = Options();
  EXPECT_THAT(Run(lpft, options, nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("'lp'")));
  options.dependency_weights = {{"lp", lp.weights_path}};
  RIB_ASSERT_OK_AND_ASSIGN(RunResult lpft_result, Run(lpft, options, nullptr));
  TensorMap lp_weights = Weights(lp.weights_path);
  TensorMap lpft_weights = Weights(lpft_result.weights_path);
  for (const auto& [name, t] : lp_weights) {
    EXPECT_TRUE(torch::equal(t, lpft_weights.at(name))) << name;
  }

  // wise-ft α=1 is ft; soup of pre and ft is their mean.
  JobSpec wise = Spec("wise-ft");
  wise.method.params = {{"alpha", "1"}};
  wise.finetune_dataset = "fmnist-v2";
  wise.eval_datasets = {"fmnist-v2"};
  options.dependency_weights = {{"ft", ft.weights_path}};
  RIB_ASSERT_OK_AND_ASSIGN(RunResult wise_result, Run(wise, options, nullptr));
  TensorMap ft_weights = Weights(ft.weights_path);
  TensorMap wise_weights = Weights(wise_result.weights_path);
  for (const auto& [name, t] : ft_weights) {
    EXPECT_TRUE(torch::equal(t, wise_weights.at(name))) << name;
  }
  // A soup is the mean of its listed members (issue 15.9): of ft alone, ft; θ_pre joins
  // only with include_pre: yes (then of pre and ft, their mean).
  JobSpec soup = Spec("soup");
  soup.method.members = {"ft"};
  soup.eval_datasets = {"fmnist-v2"};
  RIB_ASSERT_OK_AND_ASSIGN(RunResult soup_result, Run(soup, options, nullptr));
  TensorMap soup_weights = Weights(soup_result.weights_path);
  for (const auto& [name, t] : ft_weights) {
    EXPECT_TRUE(torch::allclose(soup_weights.at(name).to(torch::kDouble),
                                t.to(torch::kDouble), 0, 1e-6))
        << name;
  }
  soup.method.params = {{"include_pre", "yes"}};
  RIB_ASSERT_OK_AND_ASSIGN(RunResult with_pre, Run(soup, options, nullptr));
  TensorMap with_pre_weights = Weights(with_pre.weights_path);
  TensorMap pre_weights = Weights(pre_path_);
  EXPECT_TRUE(torch::allclose(
      with_pre_weights.at("head.weight"),
      0.5 * (pre_weights.at("head.weight") + ft_weights.at("head.weight")), 0, 1e-6));
}

// Issue 15.2: ewc reads its Fisher from the suite's pre-training validation set (or the
// dataset named), through the data library; a dataset the worker does not have is an
// error naming the parameter.
TEST_F(RunnerTest, EwcEstimatesItsFisherOnTheNamedDataset) {
  JobSpec ewc = Spec("ewc");
  ewc.method.params = {{"fisher_samples", "16"}, {"lambda", "100"}};
  ewc.eval_datasets = {"fmnist-val"};  // the default fisher_dataset
  RIB_ASSERT_OK_AND_ASSIGN(RunResult result, Run(ewc, Options(), nullptr));
  EXPECT_GT(result.steps, 0);
  ASSERT_EQ(result.results.size(), 1u);
  // The Fisher's labels shaped the weights: held-out evaluation scores the Fisher
  // dataset on its test split only, not on the train side the sample came from.
  const data::DatasetOptions options = DataOptionsOf(ewc);
  RIB_ASSERT_OK_AND_ASSIGN(auto val, data::OpenDataset("fmnist-val", options));
  RIB_ASSERT_OK_AND_ASSIGN(data::Split split, data::SplitDataset(*val, options));
  EXPECT_EQ(result.results[0].total, static_cast<int64_t>(split.test.size()));
  EXPECT_EQ(Indices(EvaluatedExamples(*val, result.results[0])), Indices(split.test));
  EXPECT_FALSE(torch::equal(Weights(result.weights_path).at("head.weight"),
                            Weights(pre_path_).at("head.weight")));
  // The same job but a Fisher on another dataset: other weights.
  JobSpec other = ewc;
  other.method.params["fisher_dataset"] = "fmnist-r";
  other.eval_datasets = {"fmnist-v2"};  // only its weights are compared
  RIB_ASSERT_OK_AND_ASSIGN(RunResult other_result, Run(other, Options(), nullptr));
  EXPECT_FALSE(torch::equal(Weights(result.weights_path).at("head.weight"),
                            Weights(other_result.weights_path).at("head.weight")));
  // A key the data library cannot open: the message names ewc's parameter.
  JobSpec missing = ewc;
  missing.method.params["fisher_dataset"] = "imagenet-val";
  EXPECT_THAT(Run(missing, Options(), nullptr),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("ewc's fisher_dataset imagenet-val")));
}

TEST_F(RunnerTest, WritesItsOutputsWhereItIsTold) {
  // The caller names the files (the agent: by the coordinator's hash); nothing is
  // named by the engine or renamed afterwards.
  JobSpec spec = Spec("vp");
  spec.eval_datasets = {"fmnist-v2"};
  RunOptions options = Options();
  options.weights_out = artifacts_.Join("out/any-name.safetensors");
  options.extra_weights_out = artifacts_.Join("out/any-name.prompt.safetensors");
  RIB_ASSERT_OK_AND_ASSIGN(RunResult result, RunJob(spec, options, nullptr));
  EXPECT_EQ(result.weights_path, options.weights_out);
  EXPECT_TRUE(std::filesystem::exists(options.weights_out));
  EXPECT_TRUE(std::filesystem::exists(options.extra_weights_out));
  EXPECT_FALSE(std::filesystem::exists(artifacts_.Join("weights")));

  // No output path: nothing is written and the result is for the input weights.
  JobSpec ft = Spec("ft");
  ft.eval_datasets = {"fmnist-v2"};
  RIB_ASSERT_OK_AND_ASSIGN(RunResult unsaved, RunJob(ft, Options(), nullptr));
  EXPECT_EQ(unsaved.weights_path, "pre.safetensors");
  EXPECT_FALSE(std::filesystem::exists(artifacts_.Join("weights")));
}

// Sets its flag from the progress report of step `stop_at` or from the first result
// row (stop_on_result), as a signal handler would at that moment; records rows and
// checkpoints.
class StopSink : public EventSink {
 public:
  void OnProgress(int, int, int64_t step, int64_t, double, double) override {
    if (step == stop_at) stop.store(true);
  }
  void OnResult(const std::string& dataset, const std::string&, int64_t, int64_t,
                int64_t) override {
    datasets.push_back(dataset);
    if (stop_on_result) stop.store(true);
  }
  void OnCheckpoint(const std::string& path) override {
    // The next checkpoint replaces it: keep a copy of the first one when asked.
    if (checkpoints.empty() && !keep_first_checkpoint.empty()) {
      std::filesystem::copy_file(path, keep_first_checkpoint);
    }
    checkpoints.push_back(path);
  }
  std::atomic<bool> stop{false};
  int64_t stop_at = -1;
  bool stop_on_result = false;
  std::string keep_first_checkpoint;
  std::vector<std::string> datasets;
  std::vector<std::string> checkpoints;
};

TEST_F(RunnerTest, AStopDuringTrainingCheckpointsAndTheResumeEndsAsUninterrupted) {
  JobSpec spec = Spec("ft");
  // Few steps: each RunJob here loads and trains for real, three of them in this test.
  spec.training.max_steps = 4;
  spec.eval_datasets = {"fmnist-v2"};
  const std::string weights_out =
      rib::spec::JobOutputPaths(artifacts_.path(), rib::spec::JobHash(spec)).weights;
  RIB_ASSERT_OK_AND_ASSIGN(RunResult uninterrupted, Run(spec, Options(), nullptr));
  ASSERT_FALSE(uninterrupted.stopped);
  ASSERT_EQ(uninterrupted.steps, 4);
  const TensorMap uninterrupted_weights = Weights(weights_out);
  std::filesystem::remove(weights_out);

  // The flag is read in every step's all-reduce: set before the job, it stops the job
  // after step 1, mid-epoch.
  RunOptions options = Options();
  options.checkpoint_dir = artifacts_.Join("checkpoints");
  StopSink sink;
  sink.stop.store(true);
  options.stop = &sink.stop;
  RIB_ASSERT_OK_AND_ASSIGN(RunResult stopped, Run(spec, options, &sink));
  EXPECT_TRUE(stopped.stopped);
  EXPECT_EQ(stopped.steps, 1);
  EXPECT_EQ(stopped.checkpoint, artifacts_.Join("checkpoints/step-1.ckpt"));
  EXPECT_TRUE(std::filesystem::exists(stopped.checkpoint));
  EXPECT_EQ(sink.checkpoints.back(), stopped.checkpoint);
  EXPECT_EQ(stopped.weights_path, "");
  EXPECT_FALSE(std::filesystem::exists(weights_out));
  EXPECT_TRUE(stopped.results.empty());
  EXPECT_TRUE(sink.datasets.empty());

  // Resumed (as the coordinator's next attempt would, from the reported checkpoint):
  // the uninterrupted job's weights, bit for bit (README determinism contract line 1),
  // and its results.
  RunOptions resume = Options();
  resume.resume_checkpoint = stopped.checkpoint;
  RIB_ASSERT_OK_AND_ASSIGN(RunResult resumed, Run(spec, resume, nullptr));
  EXPECT_FALSE(resumed.stopped);
  EXPECT_EQ(resumed.steps, 4);
  ASSERT_TRUE(std::filesystem::exists(weights_out));
  const TensorMap resumed_weights = Weights(weights_out);
  for (const auto& [name, t] : uninterrupted_weights) {
    EXPECT_TRUE(torch::equal(t, resumed_weights.at(name))) << name;
  }
  ASSERT_EQ(resumed.results.size(), uninterrupted.results.size());
  EXPECT_EQ(resumed.results[0].correct, uninterrupted.results[0].correct);
}

TEST_F(RunnerTest, AFlagSetBeforeTheJobStopsAfterItsFirstStep) {
  JobSpec spec = Spec("ft");
  spec.eval_datasets = {"fmnist-v2"};
  RunOptions options = Options();
  options.checkpoint_dir = artifacts_.Join("checkpoints");
  std::atomic<bool> stop{true};
  options.stop = &stop;
  RIB_ASSERT_OK_AND_ASSIGN(RunResult stopped, Run(spec, options, nullptr));
  EXPECT_TRUE(stopped.stopped);
  EXPECT_EQ(stopped.steps, 1);
  EXPECT_EQ(stopped.checkpoint, artifacts_.Join("checkpoints/step-1.ckpt"));
  EXPECT_TRUE(std::filesystem::exists(stopped.checkpoint));
  EXPECT_FALSE(std::filesystem::exists(
      rib::spec::JobOutputPaths(artifacts_.path(), rib::spec::JobHash(spec)).weights));
  EXPECT_TRUE(stopped.results.empty());
}

// Between eval datasets: the rows so far are kept, the final weights are written, and
// the checkpoint is the final epoch's, from which the resumed job only evaluates.
TEST_F(RunnerTest, AStopDuringEvaluationKeepsTheRowsSoFar) {
  JobSpec spec = Spec("ft");
  spec.eval_datasets = {"fmnist-val", "fmnist-a"};
  RunOptions options = Options();
  options.checkpoint_dir = artifacts_.Join("checkpoints");
  StopSink sink;
  sink.stop_on_result = true;
  options.stop = &sink.stop;
  RIB_ASSERT_OK_AND_ASSIGN(RunResult stopped, Run(spec, options, &sink));
  EXPECT_TRUE(stopped.stopped);
  EXPECT_EQ(stopped.steps, 3);
  ASSERT_EQ(stopped.results.size(), 1u);
  EXPECT_EQ(stopped.results[0].dataset, "fmnist-val");
  EXPECT_EQ(sink.datasets, std::vector<std::string>{"fmnist-val"});
  EXPECT_TRUE(std::filesystem::exists(stopped.weights_path));
  EXPECT_EQ(stopped.checkpoint, artifacts_.Join("checkpoints/epoch-1.ckpt"));
  EXPECT_TRUE(std::filesystem::exists(stopped.checkpoint));

  RunOptions resume = Options();
  resume.resume_checkpoint = stopped.checkpoint;
  RIB_ASSERT_OK_AND_ASSIGN(RunResult resumed, Run(spec, resume, nullptr));
  EXPECT_FALSE(resumed.stopped);
  EXPECT_EQ(resumed.steps, 3);
  ASSERT_EQ(resumed.results.size(), 2u);
  EXPECT_EQ(resumed.results[0].correct, stopped.results[0].correct);
  EXPECT_EQ(resumed.results[1].dataset, "fmnist-a");
}

// A job that does not train (pre) stops between datasets too, with nothing to resume.
TEST_F(RunnerTest, AnEvaluationOnlyJobStopsBetweenDatasets) {
  JobSpec spec = Spec("pre");
  spec.finetune_dataset = "";
  spec.eval_datasets = {"fmnist-a", "fmnist-val"};
  StopSink sink;
  sink.stop_on_result = true;
  RunOptions options = Options();
  options.stop = &sink.stop;
  RIB_ASSERT_OK_AND_ASSIGN(RunResult stopped, Run(spec, options, &sink));
  EXPECT_TRUE(stopped.stopped);
  EXPECT_EQ(stopped.checkpoint, "");
  ASSERT_EQ(stopped.results.size(), 1u);
  EXPECT_EQ(stopped.results[0].dataset, "fmnist-a");
}

// A checkpoint in the format written before mid-epoch checkpoints existed (an epoch's,
// with exactly its keys) still resumes a job to the uninterrupted weights.
TEST_F(RunnerTest, AnOldFormatEpochCheckpointStillResumes) {
  JobSpec spec = Spec("ft");
  spec.training.max_steps = 0;
  spec.training.epochs = 2;
  spec.training.batch_size = 128;
  spec.eval_datasets = {"fmnist-v2"};
  const std::string weights_out =
      rib::spec::JobOutputPaths(artifacts_.path(), rib::spec::JobHash(spec)).weights;
  RunOptions options = Options();
  options.checkpoint_dir = artifacts_.Join("checkpoints");
  StopSink sink;
  sink.keep_first_checkpoint = artifacts_.Join("epoch-1-copy.ckpt");
  RIB_ASSERT_OK_AND_ASSIGN(RunResult uninterrupted, Run(spec, options, &sink));
  ASSERT_EQ(sink.checkpoints.size(), 2u);
  ASSERT_EQ(sink.checkpoints[0], artifacts_.Join("checkpoints/epoch-1.ckpt"));
  const TensorMap uninterrupted_weights = Weights(weights_out);
  std::filesystem::remove(weights_out);
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap written,
                           ReadCheckpointFile(sink.keep_first_checkpoint));
  TensorMap old_format;
  for (const auto& [key, t] : written) {
    if (key.rfind("state/", 0) == 0 || key.rfind("momentum/", 0) == 0 ||
        key == "meta/step" || key == "meta/epochs_done" || key == "meta/total_steps" ||
        key == "meta/loss_scale" || key == "meta/good_steps") {
      old_format[key] = t;
    }
  }
  const std::string old_path = artifacts_.Join("old-epoch-1.ckpt");
  ASSERT_THAT(WriteCheckpointFile(old_path, old_format), IsOk());

  RunOptions resume = Options();
  resume.resume_checkpoint = old_path;
  RIB_ASSERT_OK_AND_ASSIGN(RunResult resumed, Run(spec, resume, nullptr));
  EXPECT_FALSE(resumed.stopped);
  EXPECT_EQ(resumed.steps, uninterrupted.steps);
  const TensorMap resumed_weights = Weights(weights_out);
  for (const auto& [name, t] : uninterrupted_weights) {
    EXPECT_TRUE(torch::equal(t, resumed_weights.at(name))) << name;
  }
}

TEST_F(RunnerTest, RejectsBadJobs) {
  JobSpec spec = Spec("ft");
  spec.model.preprocessing.image_size = 224;
  EXPECT_THAT(Run(spec, Options(), nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("32 px")));
  spec = Spec("ft");
  spec.model.weights = "../outside.safetensors";
  EXPECT_THAT(Run(spec, Options(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
  spec = Spec("lora");
  spec.method.params = {{"rank", "zero"}};
  EXPECT_THAT(Run(spec, Options(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rank")));
}

// otdd: no training, no evaluation; the distance between seeded samples of the
// pre-training set and the fine-tune set on the pre-trained features, reported once.
// The pre-training set against itself draws the same sample (same seed), so its
// distance is 0 up to the float cost matrix and Sinkhorn's tolerance.
TEST_F(RunnerTest, OtddReportsTheDistanceToThePretrainingSet) {
  JobSpec otdd = Spec("otdd");
  otdd.method.params = {{"max_samples", "120"}};
  otdd.finetune_dataset = "fmnist-v2";
  otdd.eval_datasets = {};
  Recorder recorder;
  RIB_ASSERT_OK_AND_ASSIGN(RunResult result, Run(otdd, Options(), &recorder));
  EXPECT_EQ(result.steps, 0);
  EXPECT_TRUE(result.results.empty());
  ASSERT_EQ(recorder.distances.size(), 1u);
  const DatasetDistanceRow& d = recorder.distances[0];
  EXPECT_EQ(d.source_dataset, "fmnist-val");
  EXPECT_EQ(d.target_dataset, "fmnist-v2");
  EXPECT_GT(d.distance, 0.01);
  EXPECT_LE(d.source_examples, 120);
  EXPECT_GT(d.source_examples, 60);
  EXPECT_DOUBLE_EQ(d.epsilon, 0.1);

  otdd.finetune_dataset = "fmnist-val";
  Recorder same;
  RIB_ASSERT_OK_AND_ASSIGN(RunResult again, Run(otdd, Options(), &same));
  ASSERT_EQ(same.distances.size(), 1u);
  EXPECT_NEAR(same.distances[0].distance, 0, 1e-3 * d.distance);
  EXPECT_LT(std::abs(same.distances[0].distance), d.distance);
}

}  // namespace
}  // namespace rib::engine
