// Data parallelism over an in-process group: N ranks with the same global batch give
// the weights of one rank (DESIGN §6), rank 0's weights are broadcast first, batch-norm
// buffers are kept in step, evaluation counts are summed, and a stop asked on one rank
// stops every rank after the same step.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/worker/engine/train/tiny_model.h"
#include "worker/dist/fake_process_group.h"
#include "worker/engine/evaluate.h"
#include "worker/engine/methods.h"
#include "worker/engine/trainer.h"

namespace rib::engine {
namespace {

using ::rib::engine::testing::AsClassifier;
using ::rib::engine::testing::TinyClassifier;
using ::rib::engine::testing::TinyData;
using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;

TrainingConfig Config() {
  TrainingConfig config;
  config.lr = 0.1;
  config.epochs = 2;
  config.warmup_steps = 2;
  config.seed = 3;
  return config;
}

// Trains with ft on `world` ranks; model of rank r is initialised from seed 10 + r
// (only rank 0's initial weights may matter). `norm`: with TinyClassifier's batch norm.
std::vector<TensorMap> TrainRanks(int world, bool norm = false) {
  // 44 = 5 full batches of 8 + a partial one. Not a structured binding: the lambda
  // below captures them, which C++17 allows only for variables.
  const std::pair<torch::Tensor, torch::Tensor> tiny = TinyData(44, 4);
  const torch::Tensor& images = tiny.first;
  const torch::Tensor& labels = tiny.second;
  std::vector<TinyClassifier> models;
  for (int r = 0; r < world; ++r) {
    torch::manual_seed(10 + r);
    models.push_back(TinyClassifier(3, norm));
  }
  auto groups = world > 1 ? dist::CreateInProcessGroups(world)
                          : std::vector<std::unique_ptr<dist::ProcessGroup>>();
  std::vector<absl::Status> statuses(world);
  auto run = [&](int r) {
    TensorTrainData::Options options;
    options.batch_size = 8;
    options.seed = 3;
    options.rank = r;
    options.world_size = world;
    TensorTrainData data(images, labels, options);
    MethodContext context;
    context.model = AsClassifier(models[r]);
    context.mask = LabelMask::Identity(3);
    context.group = world > 1 ? groups[r].get() : nullptr;
    auto method = TrainingMethod::Create(MethodSpec{"ft", "ft"}, context);
    if (!method.ok()) {
      statuses[r] = method.status();
      return;
    }
    TrainOptions train;
    train.config = Config();
    train.group = context.group;
    statuses[r] = Train((*method)->setup(), data, train, nullptr).status();
  };
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) threads.emplace_back(run, r);
  for (auto& t : threads) t.join();
  std::vector<TensorMap> out;
  for (int r = 0; r < world; ++r) {
    EXPECT_THAT(statuses[r], IsOk()) << "rank " << r;
    out.push_back(CloneWeights(ModelWeights(*models[r])));
  }
  return out;
}

TEST(DistTest, TwoRanksMatchOneRank) {
  std::vector<TensorMap> one = TrainRanks(1);
  std::vector<TensorMap> two = TrainRanks(2);
  ASSERT_EQ(two.size(), 2u);
  for (const auto& [name, t] : one[0]) {
    EXPECT_TRUE(torch::equal(two[0].at(name), two[1].at(name))) << name;
    EXPECT_TRUE(torch::allclose(two[0].at(name), t, 1e-5, 1e-6))
        << name << " max diff " << (two[0].at(name) - t).abs().max().item<double>();
  }
}

// Batch-norm statistics follow each rank's own shard during an epoch; at its end every
// rank takes rank 0's (the ones saved), so all ranks evaluate the saved model.
TEST(DistTest, BatchNormBuffersAreKeptInStepAcrossRanks) {
  std::vector<TensorMap> two = TrainRanks(2, /*norm=*/true);
  ASSERT_EQ(two.size(), 2u);
  ASSERT_TRUE(two[0].count("norm.running_mean"));
  for (const auto& [name, t] : two[0]) {
    EXPECT_TRUE(torch::equal(t, two[1].at(name))) << name;
  }
  // The statistics were updated (not compared as two untouched initial buffers).
  EXPECT_GT(two[0].at("norm.running_mean").abs().max().item<double>(), 1e-3);
}

// What one rank of RunStoppable does: when its stop flag is set (from its progress
// report of that step; -1 = never), where it writes checkpoints, what it resumes from.
struct RankRun {
  int64_t stop_at = -1;
  std::atomic<bool> stop{false};
  std::string checkpoint_dir;
  std::string resume_checkpoint;
  absl::StatusOr<TrainSummary> summary = absl::UnknownError("not run");
  std::vector<std::string> checkpoints_reported;
  TensorMap weights;
};

class RankSink : public EventSink {
 public:
  explicit RankSink(RankRun* run) : run_(run) {}
  void OnProgress(int, int, int64_t step, int64_t, double, double) override {
    if (step == run_->stop_at) run_->stop.store(true);
  }
  void OnCheckpoint(const std::string& path) override {
    run_->checkpoints_reported.push_back(path);
  }

 private:
  RankRun* run_;
};

// Two ranks train ft (4 epochs of 6 steps; no batch norm) on threads over an in-process
// group, each as `runs` says.
void RunStoppable(std::vector<RankRun>& runs) {
  const int world = static_cast<int>(runs.size());
  const std::pair<torch::Tensor, torch::Tensor> tiny = TinyData(44, 4);
  std::vector<TinyClassifier> models;
  for (int r = 0; r < world; ++r) {
    torch::manual_seed(10 + r);
    models.push_back(TinyClassifier(3, /*use_norm=*/false));
  }
  auto groups = dist::CreateInProcessGroups(world);
  auto run = [&](int r) {
    TensorTrainData::Options options;
    options.batch_size = 8;
    options.seed = 3;
    options.rank = r;
    options.world_size = world;
    TensorTrainData data(tiny.first, tiny.second, options);
    MethodContext context;
    context.model = AsClassifier(models[r]);
    context.mask = LabelMask::Identity(3);
    context.group = groups[r].get();
    auto method = TrainingMethod::Create(MethodSpec{"ft", "ft"}, context);
    if (!method.ok()) {
      runs[r].summary = method.status();
      return;
    }
    TrainOptions train;
    train.config = Config();
    train.config.epochs = 4;
    train.group = context.group;
    train.progress_every = 1;
    train.stop = &runs[r].stop;
    train.checkpoint_dir = runs[r].checkpoint_dir;
    train.resume_checkpoint = runs[r].resume_checkpoint;
    RankSink sink(&runs[r]);
    runs[r].summary = Train((*method)->setup(), data, train, &sink);
  };
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) threads.emplace_back(run, r);
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r)
    runs[r].weights = CloneWeights(ModelWeights(*models[r]));
}

// SIGTERM reaches the ranks at different moments: here only rank 1 ever sees its flag
// set, after step 8 (epoch 2 of 6-step epochs). Both stop after step 9 (the flag travels
// in that step's all-reduce), only rank 0 writes (and reports) the checkpoint, and
// resuming both ranks from it gives the uninterrupted run's weights bit for bit (README
// determinism contract line 1: same process, thread count and ranks).
TEST(DistTest, AStopOnOneRankStopsEveryRankAfterTheSameStep) {
  ScratchDir dir;
  std::vector<RankRun> uninterrupted(2);
  RunStoppable(uninterrupted);
  for (const RankRun& run : uninterrupted) {
    ASSERT_THAT(run.summary, IsOk());
    EXPECT_FALSE(run.summary->stopped);
    EXPECT_EQ(run.summary->steps, 24);
  }

  std::vector<RankRun> stopped(2);
  stopped[0].checkpoint_dir = dir.Join("rank0");
  stopped[1].checkpoint_dir = dir.Join("rank1");
  stopped[1].stop_at = 8;
  for (const RankRun& run : stopped)
    std::filesystem::create_directories(run.checkpoint_dir);
  RunStoppable(stopped);
  for (int r = 0; r < 2; ++r) {
    ASSERT_THAT(stopped[r].summary, IsOk()) << "rank " << r;
    EXPECT_TRUE(stopped[r].summary->stopped) << "rank " << r;
    EXPECT_EQ(stopped[r].summary->steps, 9) << "rank " << r;
    EXPECT_EQ(stopped[r].summary->epochs_completed, 1) << "rank " << r;
    EXPECT_EQ(std::filesystem::path(stopped[r].summary->checkpoint).filename(),
              "step-9.ckpt")
        << "rank " << r;
  }
  EXPECT_FALSE(stopped[0].stop.load());  // rank 0 stopped on rank 1's word only
  EXPECT_TRUE(std::filesystem::exists(dir.Join("rank0/step-9.ckpt")));
  // Kept: the last two checkpoints stay (trainer.h), in case step-9's report is lost.
  EXPECT_TRUE(std::filesystem::exists(dir.Join("rank0/epoch-1.ckpt")));
  EXPECT_TRUE(std::filesystem::is_empty(dir.Join("rank1")));
  EXPECT_EQ(stopped[0].checkpoints_reported,
            (std::vector<std::string>{dir.Join("rank0/epoch-1.ckpt"),
                                      dir.Join("rank0/step-9.ckpt")}));
  EXPECT_TRUE(stopped[1].checkpoints_reported.empty());
  for (const auto& [name, t] : stopped[0].weights) {
    EXPECT_TRUE(torch::equal(t, stopped[1].weights.at(name))) << name;
  }

  std::vector<RankRun> resumed(2);
  for (RankRun& run : resumed) run.resume_checkpoint = dir.Join("rank0/step-9.ckpt");
  RunStoppable(resumed);
  for (int r = 0; r < 2; ++r) {
    ASSERT_THAT(resumed[r].summary, IsOk()) << "rank " << r;
    EXPECT_FALSE(resumed[r].summary->stopped);
    EXPECT_EQ(resumed[r].summary->steps, 24);
    for (const auto& [name, t] : uninterrupted[r].weights) {
      EXPECT_TRUE(torch::equal(t, resumed[r].weights.at(name)))
          << "rank " << r << " " << name;
    }
  }
}

TEST(DistTest, EvaluationCountsAreSummedOverRanks) {
  torch::Tensor logits = torch::tensor({{2.0, 1.0}, {0.0, 3.0}, {5.0, 1.0}, {1.0, 0.0}});
  torch::Tensor labels = torch::tensor({0, 1, 1, 0}, torch::kLong);
  auto groups = dist::CreateInProcessGroups(2);
  std::vector<absl::StatusOr<std::vector<SubsetCount>>> results(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      auto stream = MakeTensorStream(logits.slice(0, 2 * r, 2 * r + 2),
                                     labels.slice(0, 2 * r, 2 * r + 2), 8);
      EvaluateOptions options;
      options.group = groups[r].get();
      results[r] = Evaluate([](const torch::Tensor& x) { return x; }, *stream,
                            LabelMask::Identity(2), options);
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < 2; ++r) {
    ASSERT_THAT(results[r], IsOk());
    EXPECT_EQ((*results[r])[0].correct, 3);
    EXPECT_EQ((*results[r])[0].total, 4);
  }
}

}  // namespace
}  // namespace rib::engine
