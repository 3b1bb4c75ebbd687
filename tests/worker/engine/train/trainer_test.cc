// The training loop: determinism, resume == uninterrupted, NaN losses, checkpoints.
#include "worker/engine/trainer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>

#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/worker/engine/train/tiny_model.h"
#include "worker/engine/methods.h"

namespace rib::engine {
namespace {

using ::rib::engine::testing::AsClassifier;
using ::rib::engine::testing::TinyClassifier;
using ::rib::engine::testing::TinyData;
using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::HasSubstr;

class RecordingSink : public EventSink {
 public:
  void OnProgress(int epoch, int epochs, int64_t step, int64_t steps, double loss,
                  double lr) override {
    steps_seen.push_back(step);
    losses.push_back(loss);
  }
  void OnCheckpoint(const std::string& path) override { checkpoints.push_back(path); }
  std::vector<int64_t> steps_seen;
  std::vector<double> losses;
  std::vector<std::string> checkpoints;
};

TrainingConfig Config() {
  TrainingConfig config;
  config.lr = 0.05;
  config.epochs = 3;
  config.warmup_steps = 3;
  config.batch_size = 8;
  config.seed = 7;
  return config;
}

std::unique_ptr<TensorTrainData> Data(int64_t seed = 1) {
  auto [images, labels] = TinyData(40, seed);
  TensorTrainData::Options options;
  options.batch_size = 8;
  options.seed = 7;
  return std::make_unique<TensorTrainData>(images, labels, options);
}

// Trains a fresh tiny model (initialised from `init_seed`) with ft.
absl::StatusOr<TensorMap> RunFt(const TrainOptions& options, int64_t init_seed = 3,
                                EventSink* sink = nullptr) {
  torch::manual_seed(init_seed);
  TinyClassifier model;
  MethodSpec spec{"ft", "ft"};
  MethodContext context;
  context.model = AsClassifier(model);
  context.mask = LabelMask::Identity(3);
  auto data = Data();
  context.data = data.get();
  auto method = TrainingMethod::Create(spec, context);
  if (!method.ok()) return method.status();
  auto summary = Train((*method)->setup(), *data, options, sink);
  if (!summary.ok()) return summary.status();
  return CloneWeights(ModelWeights(*model));
}

void ExpectBitwiseEqual(const TensorMap& a, const TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  }
}

TEST(TrainerTest, SameSeedSameWeightsBitForBit) {
  TrainOptions options;
  options.config = Config();
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap first, RunFt(options));
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap second, RunFt(options));
  ExpectBitwiseEqual(first, second);
  // And training did something.
  torch::manual_seed(3);
  TinyClassifier init;
  EXPECT_FALSE(torch::equal(first.at("body.weight"), init->body->weight));
}

TEST(TrainerTest, ReportsProgressAndLearns) {
  TrainOptions options;
  options.config = Config();
  options.config.epochs = 6;
  options.progress_every = 5;
  RecordingSink sink;
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap weights, RunFt(options, 3, &sink));
  ASSERT_FALSE(sink.losses.empty());
  EXPECT_EQ(sink.steps_seen.back(), 30);  // 6 epochs × 5 batches
  EXPECT_LT(sink.losses.back(), sink.losses.front());
}

TEST(TrainerTest, MaxStepsCapsTheRun) {
  TrainOptions options;
  options.config = Config();
  options.config.max_steps = 7;
  RecordingSink sink;
  options.progress_every = 1;
  ASSERT_THAT(RunFt(options, 3, &sink).status(), IsOk());
  EXPECT_EQ(sink.steps_seen.back(), 7);
}

TEST(TrainerTest, CheckpointsEveryEpochKeepingTheNewest) {
  ScratchDir dir;
  TrainOptions options;
  options.config = Config();
  options.checkpoint_dir = dir.path();
  RecordingSink sink;
  ASSERT_THAT(RunFt(options, 3, &sink).status(), IsOk());
  ASSERT_EQ(sink.checkpoints.size(), 3u);
  EXPECT_EQ(sink.checkpoints.back(), dir.Join("epoch-3.ckpt"));
  EXPECT_FALSE(std::filesystem::exists(dir.Join("epoch-1.ckpt")));
  EXPECT_TRUE(std::filesystem::exists(dir.Join("epoch-3.ckpt")));
  // No temporary files are left behind.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

// Trains 3 epochs straight, and again stopped after epoch 1 and resumed from that
// checkpoint into a differently initialised model: the weights must be equal bit for bit
// (model and optimiser state restored).
void ExpectResumeIsBitwiseIdentical(const std::string& optimizer) {
  ScratchDir dir;
  TrainOptions full;
  full.config = Config();
  full.config.optimizer = optimizer;
  if (optimizer == "adamw") full.config.lr = 0.01, full.config.weight_decay = 0.05;
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap uninterrupted, RunFt(full));

  // The interrupted run: keep its epoch-1 checkpoint (the later ones replace it).
  class CopySink : public EventSink {
   public:
    explicit CopySink(std::string to) : to_(std::move(to)) {}
    void OnCheckpoint(const std::string& path) override {
      if (path.find("epoch-1.ckpt") != std::string::npos) {
        std::filesystem::copy_file(path, to_);
      }
    }
    std::string to_;
  };
  TrainOptions first = full;
  first.checkpoint_dir = dir.Join("a");
  std::filesystem::create_directories(first.checkpoint_dir);
  CopySink copy(dir.Join("saved-epoch-1.ckpt"));
  ASSERT_THAT(RunFt(first, 3, &copy).status(), IsOk());

  // Resume a model initialised differently (seed 99): the checkpoint must restore it.
  TrainOptions resumed = full;
  resumed.resume_checkpoint = dir.Join("saved-epoch-1.ckpt");
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap after_resume, RunFt(resumed, /*init_seed=*/99));
  ExpectBitwiseEqual(uninterrupted, after_resume);
}

TEST(TrainerTest, ResumeFromEpochCheckpointIsBitwiseIdentical) {
  ExpectResumeIsBitwiseIdentical("sgd");
}

TEST(TrainerTest, ResumeWithAdamWIsBitwiseIdentical) {
  ExpectResumeIsBitwiseIdentical("adamw");
}

TEST(TrainerTest, AdamWTrainsAndDiffersFromSgd) {
  TrainOptions sgd, adamw;
  sgd.config = Config();
  adamw.config = Config();
  adamw.config.optimizer = "adamw";
  adamw.config.lr = 0.01;
  adamw.config.epochs = 6;
  adamw.progress_every = 5;
  RecordingSink sink;
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap with_adamw, RunFt(adamw, 3, &sink));
  ASSERT_FALSE(sink.losses.empty());
  EXPECT_LT(sink.losses.back(), sink.losses.front());
  adamw.config.epochs = 3;
  RIB_ASSERT_OK_AND_ASSIGN(with_adamw, RunFt(adamw));
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap with_sgd, RunFt(sgd));
  EXPECT_FALSE(torch::equal(with_adamw.at("body.weight"), with_sgd.at("body.weight")));
}

TEST(TrainerTest, ResumeRejectsCheckpointOfAnotherSchedule) {
  ScratchDir dir;
  TrainOptions first;
  first.config = Config();
  first.checkpoint_dir = dir.path();
  ASSERT_THAT(RunFt(first).status(), IsOk());
  TrainOptions other = first;
  other.checkpoint_dir = "";
  other.config.epochs = 5;
  other.resume_checkpoint = dir.Join("epoch-3.ckpt");
  EXPECT_THAT(RunFt(other), StatusIs(absl::StatusCode::kFailedPrecondition,
                                     HasSubstr("15 steps")));
}

TEST(TrainerTest, NonFiniteLossFailsWithStepNumber) {
  auto data = Data();
  torch::manual_seed(0);
  TinyClassifier model;
  TrainSetup setup;
  for (const auto& item : model->named_parameters()) {
    setup.trainable.emplace_back(item.key(), item.value());
    setup.state.emplace_back(item.key(), item.value());
  }
  int calls = 0;
  setup.loss = [&](const Batch& batch) {
    torch::Tensor loss = model->forward(batch.images).square().mean();
    if (++calls == 4) loss = loss * std::numeric_limits<float>::quiet_NaN();
    return loss;
  };
  TrainOptions options;
  options.config = Config();
  EXPECT_THAT(Train(setup, *data, options, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("non-finite training loss (nan) at step 4 of 15")));
}

TEST(TrainerTest, RejectsBadConfig) {
  TrainOptions options;
  options.config = Config();
  options.config.precision = "fp8";
  EXPECT_THAT(RunFt(options), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("fp8")));
  options.config = Config();
  options.config.schedule = "linear";
  EXPECT_THAT(RunFt(options), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("linear")));
  options.config = Config();
  options.config.optimizer = "adam";
  EXPECT_THAT(RunFt(options), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("unknown optimizer 'adam'")));
}

}  // namespace
}  // namespace rib::engine
