// The training loop: determinism, resume == uninterrupted, NaN losses, checkpoints, and
// stopping on request at a step boundary.
#include "worker/engine/trainer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <limits>

#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/worker/engine/train/tiny_model.h"
#include "worker/engine/checkpoint.h"
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

struct Trained {
  TensorMap weights;
  TrainSummary summary;
};

// Trains a fresh tiny model (initialised from `init_seed`; with dropout of that
// probability on its features) with ft.
absl::StatusOr<Trained> TrainFt(const TrainOptions& options, int64_t init_seed = 3,
                                EventSink* sink = nullptr, double dropout = 0.0) {
  torch::manual_seed(init_seed);
  TinyClassifier model(3, /*use_norm=*/true, dropout);
  MethodSpec spec{"ft", "ft"};
  MethodContext context;
  context.model = AsClassifier(model);
  context.mask = LabelMask::Identity(3);
  auto data = Data();
  auto method = TrainingMethod::Create(spec, context);
  if (!method.ok()) return method.status();
  auto summary = Train((*method)->setup(), *data, options, sink);
  if (!summary.ok()) return summary.status();
  return Trained{CloneWeights(ModelWeights(*model)), *summary};
}

absl::StatusOr<TensorMap> RunFt(const TrainOptions& options, int64_t init_seed = 3,
                                EventSink* sink = nullptr) {
  auto trained = TrainFt(options, init_seed, sink);
  if (!trained.ok()) return trained.status();
  return std::move(trained->weights);
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

int FilesIn(const std::string& dir) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    (void)entry;
    ++files;
  }
  return files;
}

// Liveness per optimiser step, however rare the progress reports are.
TEST(TrainerTest, BeatsOncePerStep) {
  class AliveSink : public EventSink {
   public:
    void OnProgress(int, int, int64_t, int64_t, double, double) override { ++reports; }
    void OnAlive() override { ++beats; }
    int beats = 0, reports = 0;
  } sink;
  TrainOptions options;
  options.config = Config();
  options.progress_every = 100;
  ASSERT_THAT(RunFt(options, 3, &sink).status(), IsOk());
  EXPECT_EQ(sink.beats, 15);
  EXPECT_EQ(sink.reports, 3);  // one per epoch end
}

TEST(TrainerTest, CheckpointsEveryEpochKeepingTheLastTwo) {
  ScratchDir dir;
  TrainOptions options;
  options.config = Config();
  options.checkpoint_dir = dir.path();
  RecordingSink sink;
  ASSERT_THAT(RunFt(options, 3, &sink).status(), IsOk());
  ASSERT_EQ(sink.checkpoints.size(), 3u);
  EXPECT_EQ(sink.checkpoints.back(), dir.Join("epoch-3.ckpt"));
  EXPECT_FALSE(std::filesystem::exists(dir.Join("epoch-1.ckpt")));
  EXPECT_TRUE(std::filesystem::exists(dir.Join("epoch-2.ckpt")));
  EXPECT_TRUE(std::filesystem::exists(dir.Join("epoch-3.ckpt")));
  // No temporary files are left behind.
  EXPECT_EQ(FilesIn(dir.path()), 2);
}

// The report of a checkpoint may never reach the coordinator, which then still names
// the one reported before: that one must still be on disk when the next is reported
// (and after), or the job would be stranded pointing at a removed file.
class CheckPreviousSink : public EventSink {
 public:
  void OnCheckpoint(const std::string& path) override {
    EXPECT_TRUE(std::filesystem::exists(path)) << path;
    if (!reported.empty()) {
      previous_existed.push_back(std::filesystem::exists(reported.back()));
    }
    reported.push_back(path);
  }
  std::vector<std::string> reported;
  std::vector<bool> previous_existed;
};

TEST(TrainerTest, ThePreviousCheckpointStillExistsWhenTheNextIsReported) {
  ScratchDir dir;
  TrainOptions options;
  options.config = Config();
  options.config.epochs = 4;
  options.checkpoint_dir = dir.path();
  CheckPreviousSink sink;
  ASSERT_THAT(RunFt(options, 3, &sink).status(), IsOk());
  ASSERT_EQ(sink.reported.size(), 4u);
  EXPECT_EQ(sink.previous_existed, std::vector<bool>(3, true));
  // And it stays after the run: the last report may have been the lost one.
  EXPECT_TRUE(std::filesystem::exists(sink.reported[2]));
}

// Resuming from a checkpoint that is missing or unreadable starts the run from scratch
// (step 0, the weights it was given) instead of failing: the result equals a fresh
// run's bit for bit, and the summary says why.
void ExpectResumeFromScratch(const std::string& resume, const std::string& why) {
  TrainOptions fresh;
  fresh.config = Config();
  RIB_ASSERT_OK_AND_ASSIGN(Trained uninterrupted, TrainFt(fresh));
  TrainOptions resumed = fresh;
  resumed.resume_checkpoint = resume;
  resumed.progress_every = 1;
  RecordingSink sink;
  RIB_ASSERT_OK_AND_ASSIGN(Trained run, TrainFt(resumed, 3, &sink));
  EXPECT_EQ(run.summary.steps, 15);
  EXPECT_EQ(run.summary.resumed_from, "");
  EXPECT_THAT(run.summary.resume_problem, HasSubstr(resume));
  EXPECT_THAT(run.summary.resume_problem, HasSubstr(why));
  EXPECT_EQ(run.summary.checkpoint, "");
  ASSERT_FALSE(sink.steps_seen.empty());
  EXPECT_EQ(sink.steps_seen.front(), 1);  // progress from step 0 on
  ExpectBitwiseEqual(uninterrupted.weights, run.weights);
}

TEST(TrainerTest, AMissingResumeCheckpointStartsFromScratch) {
  ScratchDir dir;
  ExpectResumeFromScratch(dir.Join("gone/epoch-2.ckpt"), "does not exist");
}

TEST(TrainerTest, ATruncatedResumeCheckpointStartsFromScratch) {
  ScratchDir dir;
  TrainOptions first;
  first.config = Config();
  first.config.epochs = 1;
  first.config.max_steps = 0;
  first.checkpoint_dir = dir.Join("a");
  std::filesystem::create_directories(first.checkpoint_dir);
  ASSERT_THAT(RunFt(first).status(), IsOk());
  // Cut the file in half, as a write interrupted without atomic publication would.
  const std::string whole = dir.Join("a/epoch-1.ckpt");
  const std::string cut = dir.Join("cut/epoch-1.ckpt");
  std::filesystem::create_directories(dir.Join("cut"));
  std::filesystem::copy_file(whole, cut);
  std::filesystem::resize_file(cut, std::filesystem::file_size(whole) / 2);
  ExpectResumeFromScratch(cut, "not a rib checkpoint");
}

TEST(TrainerTest, AnEmptyResumeCheckpointStartsFromScratch) {
  ScratchDir dir;
  std::filesystem::create_directories(dir.Join("e"));
  { std::ofstream(dir.Join("e/step-3.ckpt")); }
  ExpectResumeFromScratch(dir.Join("e/step-3.ckpt"), "step-3.ckpt");
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

// Asks to stop, from the progress report of step `at` (progress_every = 1), as a
// signal handler would: the loop sees it in the next step's all-reduce.
class StopAtSink : public EventSink {
 public:
  explicit StopAtSink(int64_t at) : at_(at) {}
  void OnProgress(int, int, int64_t step, int64_t, double, double) override {
    if (step == at_) stop.store(true);
  }
  void OnCheckpoint(const std::string& path) override { checkpoints.push_back(path); }
  std::atomic<bool> stop{false};
  std::vector<std::string> checkpoints;

 private:
  int64_t at_;
};

class StepsSink : public EventSink {
 public:
  void OnProgress(int, int, int64_t step, int64_t, double, double) override {
    steps.push_back(step);
  }
  std::vector<int64_t> steps;
};

// Trains 3 epochs of 5 steps straight, then again asked to stop at step `flag_at`, and
// resumes that stopped run from the checkpoint it reported into a differently
// initialised model. The tiny model has dropout, so this also checks that the random
// generator continues where the stopped run left it. Exact equality holds by the
// README's determinism contract line 1 (same binary, process, thread count and ranks).
void ExpectStopAndResumeIsBitwiseIdentical(const std::string& optimizer, int64_t flag_at,
                                           int64_t stopped_at,
                                           const std::string& checkpoint_name) {
  constexpr double kDropout = 0.3;
  ScratchDir dir;
  TrainOptions full;
  full.config = Config();
  full.config.optimizer = optimizer;
  if (optimizer == "adamw") full.config.lr = 0.01, full.config.weight_decay = 0.05;
  full.progress_every = 1;
  RIB_ASSERT_OK_AND_ASSIGN(Trained uninterrupted, TrainFt(full, 3, nullptr, kDropout));
  EXPECT_FALSE(uninterrupted.summary.stopped);
  EXPECT_EQ(uninterrupted.summary.steps, 15);

  StopAtSink stop_sink(flag_at);
  TrainOptions first = full;
  first.checkpoint_dir = dir.path();
  first.stop = &stop_sink.stop;
  RIB_ASSERT_OK_AND_ASSIGN(Trained stopped, TrainFt(first, 3, &stop_sink, kDropout));
  EXPECT_TRUE(stopped.summary.stopped);
  EXPECT_EQ(stopped.summary.steps, stopped_at);
  EXPECT_EQ(stopped.summary.epochs_completed, static_cast<int>(stopped_at / 5));
  EXPECT_EQ(stopped.summary.checkpoint, dir.Join(checkpoint_name));
  ASSERT_FALSE(stop_sink.checkpoints.empty());
  EXPECT_EQ(stop_sink.checkpoints.back(), dir.Join(checkpoint_name));
  EXPECT_TRUE(std::filesystem::exists(dir.Join(checkpoint_name)));
  // The run keeps its last two checkpoints (one when it wrote only one).
  EXPECT_EQ(FilesIn(dir.path()), std::min<int>(stop_sink.checkpoints.size(), 2));
  if (stop_sink.checkpoints.size() >= 2) {
    EXPECT_TRUE(std::filesystem::exists(stop_sink.checkpoints.end()[-2]));
  }
  EXPECT_FALSE(torch::equal(stopped.weights.at("body.weight"),
                            uninterrupted.weights.at("body.weight")));

  StepsSink steps;
  TrainOptions resumed = full;
  resumed.resume_checkpoint = stopped.summary.checkpoint;
  RIB_ASSERT_OK_AND_ASSIGN(Trained after_resume,
                           TrainFt(resumed, /*init_seed=*/99, &steps, kDropout));
  EXPECT_FALSE(after_resume.summary.stopped);
  EXPECT_EQ(after_resume.summary.steps, 15);
  EXPECT_EQ(after_resume.summary.epochs_completed, 3);
  ASSERT_FALSE(steps.steps.empty());
  EXPECT_EQ(steps.steps.front(), stopped_at + 1);  // no step done twice
  ExpectBitwiseEqual(uninterrupted.weights, after_resume.weights);
}

// When the newest checkpoint is damaged, the previous one the run kept beside it is
// used: the resumed run finishes equal to the uninterrupted one.
TEST(TrainerTest, ADamagedResumeCheckpointFallsBackToThePreviousOne) {
  ScratchDir dir;
  TrainOptions full;
  full.config = Config();
  full.progress_every = 1;
  RIB_ASSERT_OK_AND_ASSIGN(Trained uninterrupted, TrainFt(full));
  // Stopped after step 10, the end of epoch 2: epoch-1 and epoch-2 are kept.
  StopAtSink stop(9);
  TrainOptions first = full;
  first.checkpoint_dir = dir.path();
  first.stop = &stop.stop;
  RIB_ASSERT_OK_AND_ASSIGN(Trained stopped, TrainFt(first, 3, &stop));
  ASSERT_TRUE(stopped.summary.stopped);
  ASSERT_EQ(stopped.summary.checkpoint, dir.Join("epoch-2.ckpt"));
  ASSERT_TRUE(std::filesystem::exists(dir.Join("epoch-1.ckpt")));
  std::filesystem::resize_file(dir.Join("epoch-2.ckpt"), 100);
  TrainOptions resumed = full;
  resumed.resume_checkpoint = dir.Join("epoch-2.ckpt");
  RIB_ASSERT_OK_AND_ASSIGN(Trained run, TrainFt(resumed, /*init_seed=*/99));
  EXPECT_EQ(run.summary.resumed_from, dir.Join("epoch-1.ckpt"));
  EXPECT_THAT(run.summary.resume_problem, HasSubstr("epoch-2.ckpt"));
  EXPECT_EQ(run.summary.steps, 15);
  ExpectBitwiseEqual(uninterrupted.weights, run.weights);
}

TEST(TrainerTest, StopMidEpochThenResumeIsBitwiseIdentical) {
  // Flag set after step 6 (epoch 2, step 1 of 5): the run stops after step 7.
  ExpectStopAndResumeIsBitwiseIdentical("sgd", 6, 7, "step-7.ckpt");
}

TEST(TrainerTest, StopMidEpochThenResumeWithAdamWIsBitwiseIdentical) {
  ExpectStopAndResumeIsBitwiseIdentical("adamw", 11, 12, "step-12.ckpt");
}

TEST(TrainerTest, StopAtAnEpochsLastStepResumesFromItsEpochCheckpoint) {
  // Flag set after step 4: the run stops after step 5, the end of epoch 1.
  ExpectStopAndResumeIsBitwiseIdentical("sgd", 4, 5, "epoch-1.ckpt");
}

// The test above would pass without restoring the generator if dropout drew nothing:
// it does (same seed, with and without dropout, different weights).
TEST(TrainerTest, TheDropoutModelDrawsRandomNumbersWhileTraining) {
  TrainOptions options;
  options.config = Config();
  RIB_ASSERT_OK_AND_ASSIGN(Trained with, TrainFt(options, 3, nullptr, 0.3));
  RIB_ASSERT_OK_AND_ASSIGN(Trained again, TrainFt(options, 3, nullptr, 0.3));
  RIB_ASSERT_OK_AND_ASSIGN(Trained without, TrainFt(options, 3, nullptr, 0.0));
  ExpectBitwiseEqual(with.weights, again.weights);
  EXPECT_FALSE(
      torch::equal(with.weights.at("body.weight"), without.weights.at("body.weight")));
}

TEST(TrainerTest, AFlagSetBeforeTrainingStopsAfterTheFirstStep) {
  ScratchDir dir;
  std::atomic<bool> stop{true};
  TrainOptions options;
  options.config = Config();
  options.checkpoint_dir = dir.path();
  options.stop = &stop;
  RIB_ASSERT_OK_AND_ASSIGN(Trained stopped, TrainFt(options));
  EXPECT_TRUE(stopped.summary.stopped);
  EXPECT_EQ(stopped.summary.steps, 1);
  EXPECT_EQ(stopped.summary.epochs_completed, 0);
  EXPECT_EQ(stopped.summary.checkpoint, dir.Join("step-1.ckpt"));
  EXPECT_TRUE(std::filesystem::exists(dir.Join("step-1.ckpt")));
}

TEST(TrainerTest, AStopWithoutCheckpointDirReportsNoCheckpoint) {
  std::atomic<bool> stop{true};
  TrainOptions options;
  options.config = Config();
  options.stop = &stop;
  RIB_ASSERT_OK_AND_ASSIGN(Trained stopped, TrainFt(options));
  EXPECT_TRUE(stopped.summary.stopped);
  EXPECT_EQ(stopped.summary.steps, 1);
  EXPECT_EQ(stopped.summary.checkpoint, "");
}

// Asked to stop during the last step, the run has nothing left to do: it completes
// (not stopped), with its final epoch checkpoint as the newest.
TEST(TrainerTest, AStopSeenAtTheLastStepCompletesTheRun) {
  ScratchDir dir;
  StopAtSink sink(14);
  TrainOptions options;
  options.config = Config();
  options.progress_every = 1;
  options.checkpoint_dir = dir.path();
  options.stop = &sink.stop;
  RIB_ASSERT_OK_AND_ASSIGN(Trained run, TrainFt(options, 3, &sink));
  EXPECT_FALSE(run.summary.stopped);
  EXPECT_EQ(run.summary.steps, 15);
  EXPECT_EQ(run.summary.epochs_completed, 3);
  EXPECT_EQ(run.summary.checkpoint, dir.Join("epoch-3.ckpt"));
}

// A checkpoint in the format written before mid-epoch checkpoints existed (exactly its
// keys, no generator state) still resumes at its epoch boundary, bit for bit.
TEST(TrainerTest, AnOldFormatEpochCheckpointStillResumes) {
  ScratchDir dir;
  TrainOptions full;
  full.config = Config();
  RIB_ASSERT_OK_AND_ASSIGN(Trained uninterrupted, TrainFt(full, 3, nullptr, 0.3));

  StopAtSink stop_sink(4);  // stops at the end of epoch 1: epoch-1.ckpt
  TrainOptions first = full;
  first.progress_every = 1;
  first.checkpoint_dir = dir.Join("a");
  std::filesystem::create_directories(first.checkpoint_dir);
  first.stop = &stop_sink.stop;
  RIB_ASSERT_OK_AND_ASSIGN(Trained stopped, TrainFt(first, 3, &stop_sink, 0.3));
  ASSERT_TRUE(stopped.summary.stopped);
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap written,
                           ReadCheckpointFile(stopped.summary.checkpoint));
  TensorMap old_format;
  for (const auto& [key, t] : written) {
    const bool old_key = key.rfind("state/", 0) == 0 || key.rfind("momentum/", 0) == 0 ||
                         key == "meta/step" || key == "meta/epochs_done" ||
                         key == "meta/total_steps" || key == "meta/loss_scale" ||
                         key == "meta/good_steps";
    if (old_key) old_format[key] = t;
  }
  ASSERT_EQ(old_format.count("meta/epochs_done"), 1u);
  const std::string old_path = dir.Join("old-epoch-1.ckpt");
  ASSERT_THAT(WriteCheckpointFile(old_path, old_format), IsOk());

  TrainOptions resumed = full;
  resumed.resume_checkpoint = old_path;
  RIB_ASSERT_OK_AND_ASSIGN(Trained after_resume, TrainFt(resumed, 99, nullptr, 0.3));
  EXPECT_EQ(after_resume.summary.steps, 15);
  ExpectBitwiseEqual(uninterrupted.weights, after_resume.weights);
}

TEST(TrainerTest, AMidEpochCheckpointWithoutGeneratorStateIsRefused) {
  ScratchDir dir;
  std::atomic<bool> stop{true};
  TrainOptions first;
  first.config = Config();
  first.checkpoint_dir = dir.path();
  first.stop = &stop;
  RIB_ASSERT_OK_AND_ASSIGN(Trained stopped, TrainFt(first));
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap map, ReadCheckpointFile(stopped.summary.checkpoint));
  ASSERT_EQ(map.erase("rng/cpu"), 1u);
  ASSERT_THAT(WriteCheckpointFile(dir.Join("damaged.ckpt"), map), IsOk());
  TrainOptions resumed;
  resumed.config = Config();
  resumed.resume_checkpoint = dir.Join("damaged.ckpt");
  EXPECT_THAT(TrainFt(resumed).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("rng/cpu")));
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
