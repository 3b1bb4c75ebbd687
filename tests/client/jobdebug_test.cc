// `rib job`, `rib logs`, `rib plan` / `rib submit --dry-run` and the datasets of `rib
// workers`, against the in-process fake coordinator (real gRPC on port 0): what each
// prints from the coordinator's answers, and what it asks.
#include <fstream>
#include <string>
#include <vector>

#include "common/json_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_coordinator.h"
#include "tests/testing/test_env.h"

namespace rib::client {
namespace {

using ::rib::client::testing::CliResult;
using ::rib::client::testing::FakeServer;
using ::rib::client::testing::RunRib;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace v1 = ::rib::v1;

class JobDebugTest : public ::testing::Test {
 protected:
  CliResult Rib(std::vector<std::string> args, const CliOptions& options = {}) {
    args.insert(args.begin(), {"--coordinator", server_.address()});
    return RunRib(args, {{"USER", "alice"}}, false, options);
  }

  static v1::JobDetail Detail() {
    v1::JobDetail d;
    v1::Job* job = d.mutable_job();
    job->set_id("job-1");
    job->set_sweep_id("sw-1");
    job->set_state(v1::JOB_STATE_SUCCEEDED);
    job->set_attempt(2);
    job->set_max_attempts(3);
    job->set_hash("abc123");
    job->set_owner("alice");
    job->mutable_spec()->mutable_model()->set_name("m");
    job->mutable_spec()->mutable_method()->set_name("ft");
    job->mutable_spec()->set_finetune_dataset("fmnist-v2");
    d.set_spec_json("{\"method\":{\"kind\":\"ft\"}}");
    v1::Attempt* a1 = d.add_attempts();
    a1->set_attempt(1);
    a1->set_worker_id("w-1");
    a1->set_worker_name("node1");
    a1->mutable_leased_at()->set_seconds(1000);
    a1->set_end_state(v1::JOB_STATE_QUEUED);
    a1->set_error("lease of attempt 1 expired");
    v1::Attempt* a2 = d.add_attempts();
    a2->set_attempt(2);
    a2->set_worker_id("w-2");
    a2->set_worker_name("node2");
    a2->mutable_leased_at()->set_seconds(2000);
    a2->mutable_started_at()->set_seconds(2001);
    a2->mutable_finished_at()->set_seconds(2030);
    a2->set_end_state(v1::JOB_STATE_SUCCEEDED);
    a2->set_weights("weights/abc123.safetensors");
    a2->set_weights_digest("ff00");
    a2->add_log_ranks(0);
    v1::ReproRecord* r = a2->mutable_repro();
    r->set_rib_version("0.1.0");
    r->set_rib_commit("0123456789ab");
    r->set_torch_version("1.13.0");
    r->set_host("node2.lab");
    r->add_devices("cpu: Test CPU");
    r->set_world_size(1);
    r->set_threads(2);
    r->set_intra_op_threads(2);
    r->set_inter_op_threads(1);
    r->set_wall_seconds(29.5);
    r->set_train_images_per_second(812.5);
    r->set_eval_images_per_second(2000);
    return d;
  }

  FakeServer server_;
};

TEST_F(JobDebugTest, JobShowsEveryAttemptAndHowItRan) {
  server_.fake().SetJobDetail(Detail());
  CliResult r = Rib({"job", "job-1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("succeeded (attempt 2 of 3)"));
  EXPECT_THAT(r.out, HasSubstr("m/ft/fmnist-v2"));
  EXPECT_THAT(r.out, HasSubstr("{\"method\":{\"kind\":\"ft\"}}"));
  EXPECT_THAT(r.out, HasSubstr("lease of attempt 1 expired"));
  EXPECT_THAT(r.out,
              HasSubstr("attempt 2: weights weights/abc123.safetensors sha256 ff00"));
  EXPECT_THAT(
      r.out,
      HasSubstr("attempt 2: rib 0.1.0 (0123456789ab), LibTorch 1.13.0, CUDA no, "
                "host node2.lab, 1 rank(s) on cpu: Test CPU, threads 2 (intra-op 2, "
                "inter-op 1, BLAS -), wall 29.5 s, train 812.5 img/s, eval 2000.0 "
                "img/s"));

  r = Rib({"job", "job-1", "-o", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto json = ParseJson(r.out);
  ASSERT_TRUE(json.ok()) << r.out;
  EXPECT_EQ(json->Get("state")->text, "succeeded");
  EXPECT_EQ(json->Get("spec")->Get("method")->Get("kind")->text, "ft");
  const JsonValue* attempts = json->Get("attempts");
  ASSERT_EQ(attempts->array.size(), 2u);
  EXPECT_EQ(attempts->array[0].Get("end_state")->text, "queued");
  EXPECT_EQ(attempts->array[0].Get("rib_commit")->type, JsonValue::Type::kNull);
  EXPECT_EQ(attempts->array[1].Get("rib_commit")->text, "0123456789ab");
  EXPECT_EQ(attempts->array[1].Get("train_images_per_second")->number, 812.5);
  EXPECT_EQ(attempts->array[1].Get("started_at")->number, 2001);
  EXPECT_EQ(attempts->array[1].Get("log_ranks")->array.size(), 1u);

  r = Rib({"job", "job-1", "-o", "csv"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')),
            "attempt,worker,worker_name,leased_at,started_at,finished_at,end_state,code,"
            "error,weights,weights_digest,checkpoints,log_ranks,rib_version,rib_commit,"
            "torch_version,cuda_version,host,devices,world_size,threads,intra_op_threads,"
            "inter_op_threads,blas_core,wall_seconds,train_images_per_second,"
            "eval_images_per_second");
}

TEST_F(JobDebugTest, LogsPrintsWhatIsStoredAndFollowsUntilTheAttemptEnds) {
  std::vector<v1::AttemptLog> logs(3);
  logs[0].set_attempt(2);
  logs[0].set_data("first\n");
  logs[0].set_end_offset(6);
  logs[1].set_attempt(2);
  logs[1].set_start_offset(6);
  logs[1].set_data("second\n");
  logs[1].set_end_offset(13);
  logs[1].set_attempt_ended(true);
  logs[2] = logs[1];
  logs[2].set_start_offset(13);
  logs[2].set_data("");
  server_.fake().SetAttemptLogs(logs);
  CliOptions fast;
  fast.log_follow_poll = absl::Milliseconds(10);
  CliResult r = Rib({"logs", "job-1", "-f"}, fast);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "first\nsecond\n");
  std::vector<int64_t> offsets;
  std::vector<int> attempts;
  for (const auto& q : server_.fake().log_requests()) {
    offsets.push_back(q.offset());
    attempts.push_back(q.attempt());
  }
  // From the start, then each answer's end; the first asks for the latest attempt (0)
  // and the rest for the attempt it named; one more read after the end (the tail).
  EXPECT_THAT(offsets, ElementsAre(0, 6, 13));
  EXPECT_THAT(attempts, ElementsAre(0, 2, 2));
}

TEST_F(JobDebugTest, LogsSaysWhenTheStartIsGoneAndRefusesBadFlags) {
  v1::AttemptLog log;
  log.set_attempt(1);
  log.set_start_offset(500);
  log.set_dropped(500);
  log.set_data("tail\n");
  log.set_end_offset(505);
  log.set_attempt_ended(true);
  server_.fake().SetAttemptLogs({log});
  CliResult r = Rib({"logs", "job-1", "--rank", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "tail\n");
  EXPECT_THAT(r.err, HasSubstr("the first 500 bytes of this log are gone"));
  EXPECT_EQ(server_.fake().log_requests().at(0).rank(), 1);
  r = Rib({"logs", "job-1", "--attempt", "0"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("--attempt: '0' is not an attempt number"));
  r = Rib({"logs", "job-1", "--rank", "x"});
  EXPECT_THAT(r.err, HasSubstr("--rank: 'x' is not a rank"));
  server_.fake().SetError("GetAttemptLog",
                          grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                       "GetAttemptLog needs the sweep's owner (alice)"));
  r = Rib({"logs", "job-1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err,
              HasSubstr("PERMISSION_DENIED: GetAttemptLog needs the sweep's owner"));
}

TEST_F(JobDebugTest, PlanAndDryRunSayWhatWouldRunWhere) {
  ::rib::testing::ScratchDir dir;
  const std::string file = dir.path() + "/s.yaml";
  std::ofstream(file) << "name: s\n";
  v1::SweepPlan plan;
  plan.set_name("s");
  v1::PlannedJob* a = plan.add_jobs();
  a->set_key("m/pre");
  a->set_hash("0123456789abcdef");
  a->set_reused_from("job-0");
  a->add_datasets("fmnist-val");
  a->set_devices(1);
  a->add_workers("node1");
  v1::PlannedJob* b = plan.add_jobs();
  b->set_key("m/ft/fmnist-v2");
  b->set_hash("fedcba9876543210");
  b->add_datasets("fmnist-val");
  b->add_datasets("fmnist-v2");
  b->set_devices(4);
  b->add_why_not("node1: has 1 cpu device, the job needs 4");
  plan.set_jobs_new(1);
  plan.set_jobs_reused(1);
  plan.set_jobs_unrunnable(1);
  server_.fake().SetPlan(plan);
  CliResult r = Rib({"plan", file});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("reused job-0"));
  EXPECT_THAT(r.out, HasSubstr("none: node1: has 1 cpu device, the job needs 4"));
  EXPECT_THAT(r.out,
              HasSubstr("sweep 's' (not submitted): 2 jobs, 1 new, 1 reused; 1 that "
                        "no registered worker can run"));
  EXPECT_EQ(server_.fake().last_submit().sweep_yaml(), "name: s\n");
  r = Rib({"submit", "--dry-run", file, "-o", "json", "--force"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto json = ParseJson(r.out);
  ASSERT_TRUE(json.ok()) << r.out;
  ASSERT_EQ(json->array.size(), 2u);
  EXPECT_EQ(json->array[1].Get("devices")->number, 4);
  EXPECT_EQ(json->array[1].Get("why_not")->array.at(0).text,
            "node1: has 1 cpu device, the job needs 4");
  EXPECT_TRUE(server_.fake().last_submit().force());
  // A dry run never submits.
  for (const std::string& call : server_.fake().calls()) EXPECT_NE(call, "SubmitSweep");
}

TEST_F(JobDebugTest, WorkersListTheirDatasets) {
  v1::ListWorkersResponse workers;
  v1::Worker* w = workers.add_workers();
  w->set_id("w-1");
  w->set_name("node1");
  w->add_datasets("fmnist-val");
  w->add_datasets("fmnist-v2");
  server_.fake().SetWorkers(workers);
  CliResult r = Rib({"workers"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("fmnist-val,fmnist-v2"));
  r = Rib({"workers", "-o", "json"});
  auto json = ParseJson(r.out);
  ASSERT_TRUE(json.ok()) << r.out;
  EXPECT_EQ(json->array.at(0).Get("datasets")->array.size(), 2u);
}

}  // namespace
}  // namespace rib::client
