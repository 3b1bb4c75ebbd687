// rib-rank as the agent runs it: started through the launcher's RankGroup with its end
// of a real rank link, on a tiny FMNIST-RIB job. What reaches the link, the exit codes,
// and the stop on SIGTERM.
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/convert/job_spec_convert.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/testing/tiny_job.h"
#include "worker/agent/launcher.h"
#include "worker/engine/model.h"
#include "worker/engine/weights.h"
#include "worker/protocol/job_file.h"
#include "worker/protocol/rank_env.h"
#include "worker/protocol/rank_link.h"

namespace rib::rank {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::testing::HasSubstr;

struct Ran {
  std::vector<v1::JobEvent> events;
  agent::RankExit exit;
};

class RankRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* binary = std::getenv("RIB_RANK_BINARY");
    ASSERT_NE(binary, nullptr) << "RIB_RANK_BINARY is not set";
    binary_ = binary;
    std::filesystem::create_directories(dir_.Join("artifacts"));
    torch::manual_seed(1);
    auto model = engine::CreateModel("fmnist_vit", 10);
    ASSERT_THAT(model, IsOk());
    ASSERT_THAT(engine::SaveClassifier(*model, dir_.Join("artifacts/pre.safetensors")),
                IsOk());
  }

  JobSpec Spec() {
    JobSpec spec = ::rib::testing::TinyFmnistJob("ft");
    spec.eval_datasets = {"fmnist-val"};
    return spec;
  }

  protocol::JobFile File(const JobSpec& spec) {
    protocol::JobFile file;
    file.job_id = "j1";
    file.attempt = 1;
    file.hash = "h1";
    convert::JobSpecToProto(spec).SerializeToString(&file.spec_proto);
    file.data_root = ::rib::testing::CachedDataRoot();
    file.artifact_root = dir_.Join("artifacts");
    file.checkpoint_dir = dir_.Join("artifacts/checkpoints/h1");
    file.weights_out = dir_.Join("artifacts/weights/h1.safetensors");
    file.device_ids = {0};
    file.threads = 1;
    std::filesystem::create_directories(file.checkpoint_dir);
    return file;
  }

  // Runs one rank of `file`; `on_event` sees each event as it arrives and returns
  // whether to send the rank SIGTERM now.
  template <typename OnEvent>
  Ran Run(const protocol::JobFile& file, OnEvent on_event) {
    Ran ran;
    const std::string job_file = dir_.Join("job.txt");
    EXPECT_THAT(protocol::WriteJobFile(file, job_file), IsOk());
    auto link = protocol::CreateRankLink();
    EXPECT_THAT(link.status(), IsOk());
    agent::RankLaunchOptions launch;
    launch.argv = {binary_, "--job-file", job_file};
    launch.log_dir = dir_.Join("logs");
    launch.rank_link_fds = {link->rank_end.get()};
    auto group = agent::RankGroup::Start(launch);
    EXPECT_THAT(group.status(), IsOk());
    if (!group.ok()) return ran;
    link->rank_end.Reset();
    protocol::RankLinkReader reader(std::move(link->agent_end));
    bool signalled = false;
    while (true) {
      v1::JobEvent e;
      auto read = reader.Next(&e, absl::Seconds(120));
      EXPECT_THAT(read.status(), IsOk());
      if (!read.ok() || *read != protocol::RankLinkReader::Read::kEvent) break;
      ran.events.push_back(e);
      if (!signalled && on_event(e)) {
        signalled = true;
        kill((*group)->pids()[0], SIGTERM);
      }
    }
    (*group)->Wait().IgnoreError();
    ran.exit = (*group)->exits()[0];
    return ran;
  }

  ScratchDir dir_;
  std::string binary_;
};

TEST_F(RankRuntimeTest, ATrainingJobSendsItsEventsInOrderAndFinishes) {
  const protocol::JobFile file = File(Spec());
  Ran ran = Run(file, [](const v1::JobEvent&) { return false; });
  EXPECT_TRUE(ran.exit.exited);
  EXPECT_EQ(ran.exit.exit_code, 0);
  ASSERT_GE(ran.events.size(), 3u);
  EXPECT_TRUE(ran.events.front().started());
  int results = 0;
  for (const v1::JobEvent& e : ran.events) {
    if (e.has_result()) {
      ++results;
      EXPECT_EQ(e.result().dataset(), "fmnist-val");
      EXPECT_GT(e.result().total(), 0);
    }
    EXPECT_TRUE(e.job_id().empty());  // the agent stamps its lease's
  }
  EXPECT_EQ(results, 1);
  const v1::JobEvent& last = ran.events.back();
  ASSERT_TRUE(last.has_finished()) << last.ShortDebugString();
  EXPECT_TRUE(last.finished().ok());
  EXPECT_EQ(last.finished().weights(), file.weights_out);  // absolute: the agent relativizes
  EXPECT_TRUE(std::filesystem::exists(file.weights_out));
}

TEST_F(RankRuntimeTest, SigtermCheckpointsAtAStepBoundaryAndExitsDrained) {
  JobSpec spec = Spec();
  spec.training.max_steps = 0;
  spec.training.epochs = 500;  // minutes of training: the stop must come from SIGTERM
  spec.training.batch_size = 8;
  const protocol::JobFile file = File(spec);
  Ran ran = Run(file, [](const v1::JobEvent& e) { return e.has_progress(); });
  EXPECT_TRUE(ran.exit.exited);
  EXPECT_EQ(ran.exit.exit_code, protocol::kDrainedExitCode);
  ASSERT_FALSE(ran.events.empty());
  const v1::JobEvent& last = ran.events.back();
  EXPECT_FALSE(last.has_finished());
  ASSERT_TRUE(last.has_checkpoint()) << last.ShortDebugString();
  // In the attempt's own folder: a second attempt of the job never writes the same file.
  EXPECT_THAT(last.checkpoint(), HasSubstr(file.checkpoint_dir + "/attempt-1/"));
  EXPECT_TRUE(std::filesystem::exists(last.checkpoint()));
  EXPECT_FALSE(std::filesystem::exists(file.weights_out));  // not done: no weights
}

// The coordinator may name a checkpoint that is gone (its file removed, the volume
// replaced): the attempt starts from scratch and the job succeeds, instead of failing
// for good.
TEST_F(RankRuntimeTest, AMissingResumeCheckpointStartsFromScratch) {
  protocol::JobFile file = File(Spec());
  file.attempt = 2;
  file.resume_checkpoint = file.checkpoint_dir + "/attempt-1/epoch-1.ckpt";
  Ran ran = Run(file, [](const v1::JobEvent&) { return false; });
  EXPECT_TRUE(ran.exit.exited);
  EXPECT_EQ(ran.exit.exit_code, 0);
  ASSERT_FALSE(ran.events.empty());
  const v1::JobEvent& last = ran.events.back();
  ASSERT_TRUE(last.has_finished()) << last.ShortDebugString();
  EXPECT_TRUE(last.finished().ok()) << last.finished().error();
  EXPECT_TRUE(std::filesystem::exists(file.weights_out));
  // And it says so, naming the file.
  std::ifstream log(dir_.Join("logs/rank0.stderr.log"));
  const std::string text((std::istreambuf_iterator<char>(log)),
                         std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("cannot resume from checkpoint " + file.resume_checkpoint));
  EXPECT_THAT(text, HasSubstr("starts from scratch"));
}

TEST_F(RankRuntimeTest, ADeterministicErrorIsSentWithItsCode) {
  JobSpec spec = Spec();
  spec.model.weights = "missing.safetensors";
  Ran ran = Run(File(spec), [](const v1::JobEvent&) { return false; });
  EXPECT_EQ(ran.exit.exit_code, 1);
  ASSERT_FALSE(ran.events.empty());
  const v1::JobEvent& last = ran.events.back();
  ASSERT_TRUE(last.has_finished());
  EXPECT_FALSE(last.finished().ok());
  EXPECT_EQ(last.finished().code(), static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_THAT(last.finished().error(), HasSubstr("missing.safetensors"));
}

TEST_F(RankRuntimeTest, AnUnreadableJobFileExitsWithTheBadJobCode) {
  protocol::JobFile file = File(Spec());
  file.spec_proto = "not a proto";
  Ran ran = Run(file, [](const v1::JobEvent&) { return false; });
  EXPECT_TRUE(ran.events.empty());
  EXPECT_EQ(ran.exit.exit_code, protocol::kBadJobExitCode);
}

}  // namespace
}  // namespace rib::rank
