// The rib CLI end to end in-process: every command against a fake coordinator on a
// real gRPC server (port 0), exit codes, and the one-line errors.
#include "client/commands.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "client/format.h"
#include "client/svg.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_coordinator.h"
#include "tests/client/test_matrix.h"
#include "tests/testing/test_env.h"

namespace rib::client {
namespace {

using ::rib::client::testing::CliResult;
using ::rib::client::testing::FakeServer;
using ::rib::client::testing::KnownMatrix;
using ::rib::client::testing::RunRib;
using ::rib::testing::ScratchDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

namespace v1 = ::rib::v1;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int LineCount(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

class CommandsTest : public ::testing::Test {
 protected:
  // Runs `rib --coordinator <fake> args...` with USER=alice.
  CliResult Rib(std::vector<std::string> args,
                std::map<std::string, std::string> env = {}, bool terminal = false,
                const CliOptions& options = {}) {
    args.insert(args.begin(), {"--coordinator", server_.address()});
    env.emplace("USER", "alice");
    return RunRib(args, env, terminal, options);
  }

  FakeServer server_;
  ScratchDir dir_;
};

// ---- submit ----

TEST_F(CommandsTest, SubmitPrintsNewAndReusedCounts) {
  v1::SubmitSweepResponse response;
  response.set_sweep_id("sw-1");
  response.set_jobs_total(12);
  response.set_jobs_new(9);
  response.set_jobs_reused(3);
  server_.fake().SetSubmitResponse(response);
  const std::string path = dir_.Join("demo.yaml");
  std::ofstream(path) << "name: demo\n";

  CliResult r = Rib({"submit", path});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "sweep sw-1 submitted: 12 jobs, 9 new, 3 reused\n");
  EXPECT_EQ(r.err, "");
  v1::SubmitSweepRequest sent = server_.fake().last_submit();
  EXPECT_EQ(sent.sweep_yaml(), "name: demo\n");
  EXPECT_EQ(sent.source_name(), path);
  EXPECT_FALSE(sent.force());
  EXPECT_EQ(sent.client_request_id(), DefaultRequestId("alice", false, "name: demo\n"));
  EXPECT_THAT(sent.client_request_id(), StartsWith("cli-"));
  EXPECT_EQ(sent.client_request_id().size(), 4u + 32u);

  // Resubmitting the same file sends the same id; the coordinator says it exists.
  response.set_existing(true);
  server_.fake().SetSubmitResponse(response);
  r = Rib({"submit", path});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(server_.fake().last_submit().client_request_id(), sent.client_request_id());
  EXPECT_EQ(r.out, "sweep sw-1 already submitted (request id " +
                       sent.client_request_id() + "): 12 jobs, 9 new, 3 reused\n");

  // --force changes the id (a forced run is a different request) and sets force.
  r = Rib({"submit", path, "--force", "-q"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "sw-1\n");  // -q: only the id, for scripts
  EXPECT_TRUE(server_.fake().last_submit().force());
  EXPECT_NE(server_.fake().last_submit().client_request_id(), sent.client_request_id());
  // Another user, another id; --request-id overrides.
  EXPECT_NE(DefaultRequestId("bob", false, "name: demo\n"), sent.client_request_id());
  r = Rib({"submit", "--request-id=mine", path});
  EXPECT_EQ(server_.fake().last_submit().client_request_id(), "mine");
}

TEST_F(CommandsTest, SubmitPrintsEachModelsWeightsAndPreprocessing) {
  v1::SubmitSweepResponse response;
  response.set_sweep_id("sw-1");
  response.set_jobs_total(2);
  response.set_jobs_new(2);
  server_.fake().SetSubmitResponse(response);
  v1::ListJobsResponse jobs;
  v1::Job* pre = jobs.add_jobs();
  pre->mutable_spec()->mutable_method()->set_kind("pre");
  v1::ModelSpec* m = pre->mutable_spec()->mutable_model();
  m->set_name("clip");
  m->set_arch("vit_base_patch16_clip_224.openai_ft_in1k");
  m->set_num_classes(1000);
  m->set_weights("hf-hub/models--timm--x/snapshots/abc/model.safetensors");
  m->set_weights_digest("0123456789abcdef");
  v1::Preprocessing* p = m->mutable_preprocessing();
  p->set_image_size(224);
  p->set_crop_pct(0.9);
  p->set_interpolation("bicubic");
  for (double v : {0.48145466, 0.4578275, 0.40821073}) p->add_mean(v);
  for (double v : {0.26862954, 0.26130258, 0.27577711}) p->add_std(v);
  jobs.add_jobs()->mutable_spec()->mutable_method()->set_kind("ft");  // not printed
  server_.fake().SetJobs(jobs);
  const std::string path = dir_.Join("hub.yaml");
  std::ofstream(path) << "name: hub\n";

  CliResult r = Rib({"submit", path});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "sweep sw-1 submitted: 2 jobs, 2 new, 0 reused\n"
            "  model clip: vit_base_patch16_clip_224.openai_ft_in1k, 1000 classes, weights "
            "hf-hub/models--timm--x/snapshots/abc/model.safetensors (sha256 0123456789ab), "
            "224 px, crop 0.9, bicubic, mean 0.48145466,0.4578275,0.40821073, std "
            "0.26862954,0.26130258,0.27577711\n");
  EXPECT_EQ(server_.fake().last_list_jobs().sweep_id(), "sw-1");
}

TEST_F(CommandsTest, SubmitInvalidArgumentIsOneLine) {
  server_.fake().SetError(
      "SubmitSweep",
      grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                   "demo.yaml:14: methods[2].kind: unknown method 'lorra'"));
  const std::string path = dir_.Join("demo.yaml");
  std::ofstream(path) << "x: 1\n";
  CliResult r = Rib({"submit", path});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(
      r.err,
      "rib: submit: INVALID_ARGUMENT: demo.yaml:14: methods[2].kind: unknown method "
      "'lorra'\n");
}

TEST_F(CommandsTest, MultiLineServerMessageBecomesOneLine) {
  server_.fake().SetError("ListSweeps",
                          grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "a\nb\n"));
  CliResult r = Rib({"sweeps"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "rib: sweeps: FAILED_PRECONDITION: a; b\n");
}

TEST_F(CommandsTest, SubmitMissingFile) {
  CliResult r = Rib({"submit", dir_.Join("nope.yaml")});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "rib: submit: cannot read " + dir_.Join("nope.yaml") +
                       ": No such file or directory\n");
  EXPECT_TRUE(server_.fake().calls().empty());
}

// ---- connection errors, token, usage ----

TEST_F(CommandsTest, UnreachableCoordinatorIsOneLine) {
  FakeServer gone;
  const std::string address = gone.address();
  gone.Shutdown();  // nothing listens on that port any more
  CliResult r = RunRib({"--coordinator", address, "sweeps"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "rib: cannot reach coordinator at " + address + " (UNAVAILABLE)\n");
  // The same through RIB_COORDINATOR, for a streaming call.
  r = RunRib({"watch", "sw-1"}, {{"RIB_COORDINATOR", address}});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "rib: cannot reach coordinator at " + address + " (UNAVAILABLE)\n");
}

TEST_F(CommandsTest, ServerUnavailableAfterConnectingIsNotUnreachable) {
  server_.fake().SetError(
      "ListWorkers", grpc::Status(grpc::StatusCode::UNAVAILABLE, "database is down"));
  CliResult r = Rib({"workers"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "rib: workers: UNAVAILABLE: database is down\n");
}

TEST_F(CommandsTest, TokenSentAsBearerMetadata) {
  Rib({"sweeps"});
  Rib({"sweeps", "--token", "flag-token"}, {{"RIB_TOKEN", "env-token"}});
  Rib({"sweeps"}, {{"RIB_TOKEN", "env-token"}});
  EXPECT_THAT(server_.fake().authorizations(),
              ElementsAre("", "Bearer flag-token", "Bearer env-token"));
  // The token decides who asks: $USER is no longer sent as x-rib-user.
  EXPECT_THAT(server_.fake().users(), ElementsAre("", "", ""));
}

TEST_F(CommandsTest, ConfigFileNamesTheCoordinator) {
  const std::string cfg = dir_.Join("config.yaml");
  std::ofstream(cfg) << "coordinator: " << server_.address() << "\ntoken: file-token\n";
  CliResult r = RunRib({"workers"}, {{"RIB_CONFIG", cfg}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "no workers\n");
  EXPECT_THAT(server_.fake().authorizations(), ElementsAre("Bearer file-token"));
}

TEST_F(CommandsTest, StubFactoryReplacesTheChannel) {
  // A factory (e.g. for TLS or a test double) gets the resolved connection and decides
  // where calls go.
  CliOptions options;
  std::string seen_address;
  options.stub_factory = [&](const ConnectionConfig& config) {
    seen_address = config.coordinator;
    return v1::Coordinator::NewStub(
        grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials()));
  };
  CliResult r = RunRib({"--coordinator", "elsewhere:1", "workers"}, {}, false, options);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "no workers\n");
  EXPECT_EQ(seen_address, "elsewhere:1");
}

TEST_F(CommandsTest, UsageErrors) {
  CliResult r = Rib({"frobnicate"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "rib: unknown command 'frobnicate' (rib help lists them)\n");
  r = Rib({"matrix", "sw-1", "--colour"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "rib: matrix: unknown flag --colour\n");
  r = Rib({"status"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "rib: status: usage: rib status SWEEP [-o table|json|csv]\n");
  r = Rib({"matrix", "sw-1", "--format", "xml"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(LineCount(r.err), 1);
  EXPECT_THAT(r.err, HasSubstr("unknown format 'xml'"));
  r = RunRib({"help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("rib matrix SWEEP [--model M]"));
  EXPECT_TRUE(server_.fake().calls().empty());
}

// ---- status, sweeps, jobs, workers, cancel, retry, drain ----

v1::Sweep DemoSweep() {
  v1::Sweep s;
  s.set_id("sw-1");
  s.set_name("demo");
  s.set_owner("alice");
  s.set_state(v1::SWEEP_STATE_ACTIVE);
  for (auto [state, n] :
       std::vector<std::pair<v1::JobState, int>>{{v1::JOB_STATE_QUEUED, 4},
                                                 {v1::JOB_STATE_RUNNING, 2},
                                                 {v1::JOB_STATE_SUCCEEDED, 5},
                                                 {v1::JOB_STATE_FAILED, 1}}) {
    v1::JobStateCount* c = s.add_counts();
    c->set_state(state);
    c->set_count(n);
  }
  s.add_models("vit");
  s.add_methods("ft");
  s.add_methods("lp");
  return s;
}

v1::Job FailedJob() {
  v1::Job j;
  j.set_id("job-7");
  j.set_sweep_id("sw-1");
  j.mutable_spec()->mutable_model()->set_name("vit");
  j.mutable_spec()->mutable_method()->set_name("ft");
  j.mutable_spec()->set_finetune_dataset("fmnist-a");
  j.set_state(v1::JOB_STATE_FAILED);
  j.set_attempt(3);
  j.set_max_attempts(3);
  j.set_error("NaN loss at step 17");
  return j;
}

TEST_F(CommandsTest, StatusCountsJobsByState) {
  server_.fake().SetSweep(DemoSweep());
  v1::ListJobsResponse jobs;
  *jobs.add_jobs() = FailedJob();
  jobs.set_total(1);
  server_.fake().SetJobs(jobs);
  CliResult r = Rib({"status", "sw-1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.fake().last_sweep_id(), "sw-1");
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  ASSERT_GE(lines.size(), 14u) << r.out;
  EXPECT_EQ(lines[0], "sweep sw-1 (demo): active");
  EXPECT_THAT(lines[1], StartsWith("owner alice, priority 0, created"));
  EXPECT_EQ(lines[2],
            "models: vit; methods: ft, lp; fine-tune datasets: 0; eval datasets: 0");
  EXPECT_EQ(lines[3], "jobs: 12");
  EXPECT_EQ(lines[4], "  pending    0");
  EXPECT_EQ(lines[5], "  queued     4");
  EXPECT_EQ(lines[6], "  leased     0");
  EXPECT_EQ(lines[7], "  running    2");
  EXPECT_EQ(lines[8], "  succeeded  5");
  EXPECT_EQ(lines[9], "  failed     1");
  EXPECT_EQ(lines[10], "  cancelled  0");
  EXPECT_EQ(lines[11], "failed jobs:");
  EXPECT_EQ(lines[12], "  job-7  vit/ft/fmnist-a  attempt 3: NaN loss at step 17");
  v1::ListJobsRequest asked = server_.fake().last_list_jobs();
  EXPECT_EQ(asked.sweep_id(), "sw-1");
  EXPECT_EQ(asked.state(), v1::JOB_STATE_FAILED);
}

TEST_F(CommandsTest, StatusNotFound) {
  server_.fake().SetError("GetSweep",
                          grpc::Status(grpc::StatusCode::NOT_FOUND, "no sweep 'sw-9'"));
  CliResult r = Rib({"status", "sw-9"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "rib: status: NOT_FOUND: no sweep 'sw-9'\n");
}

// Worker w-1 named `name`, active, cuda:8 with 6 free.
v1::Worker ActiveWorker(const std::string& name) {
  v1::Worker w;
  w.set_id("w-1");
  w.set_name(name);
  w.set_state(v1::WORKER_STATE_ACTIVE);
  v1::Device* d = w.add_devices();
  d->set_kind("cuda");
  d->set_count(8);
  w.set_free_devices(6);
  return w;
}

TEST_F(CommandsTest, SweepsJobsWorkersTables) {
  v1::ListSweepsResponse sweeps;
  *sweeps.add_sweeps() = DemoSweep();
  server_.fake().SetSweeps(sweeps);
  CliResult r = Rib({"sweeps"});
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  EXPECT_EQ(lines[0], "SWEEP  NAME  OWNER  STATE   JOBS  DONE  FAILED  CREATED");
  EXPECT_EQ(lines[1], "sw-1   demo  alice  active  12    5     1       -");

  v1::ListJobsResponse jobs;
  *jobs.add_jobs() = FailedJob();
  server_.fake().SetJobs(jobs);
  r = Rib({"jobs", "--sweep", "sw-1", "--state", "failed"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.fake().last_list_jobs().state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(server_.fake().last_list_jobs().sweep_id(), "sw-1");
  EXPECT_THAT(r.out, HasSubstr("job-7  vit/ft/fmnist-a  failed  3/3      -       0%"
                               "        NaN loss at step 17\n"));
  r = Rib({"jobs", "--state", "exploded"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_THAT(r.err, StartsWith("rib: jobs: --state: unknown job state 'exploded'"));

  v1::ListWorkersResponse workers;
  *workers.add_workers() = ActiveWorker("node1");
  workers.mutable_workers(0)->add_running_jobs("job-1");
  server_.fake().SetWorkers(workers);
  r = Rib({"workers"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "WORKER  NAME   STATE   DEVICES  FREE  RUNNING  HEARTBEAT  DATASETS\n"
            "w-1     node1  active  cuda:8   6     1        -          -\n");
}

// The same three listings as JSON and CSV: the raw values the table formats.
TEST_F(CommandsTest, SweepsJobsWorkersAsJsonAndCsv) {
  v1::ListSweepsResponse sweeps;
  *sweeps.add_sweeps() = DemoSweep();
  server_.fake().SetSweeps(sweeps);
  CliResult r = Rib({"sweeps", "-o", "csv"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "sweep,name,owner,state,jobs,done,failed,created\n"
            "sw-1,demo,alice,active,12,5,1,\n");
  r = Rib({"sweeps", "--output", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"sweep\": \"sw-1\""));
  EXPECT_THAT(r.out, HasSubstr("\"jobs\": 12"));
  EXPECT_THAT(r.out, HasSubstr("\"created\": null"));

  v1::ListJobsResponse jobs;
  *jobs.add_jobs() = FailedJob();
  server_.fake().SetJobs(jobs);
  r = Rib({"jobs", "--sweep", "sw-1", "-o", "csv"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "job,label,state,attempt,max_attempts,worker,progress,reused,error\n"
            "job-7,vit/ft/fmnist-a,failed,3,3,,0,false,NaN loss at step 17\n");

  v1::ListWorkersResponse workers;
  *workers.add_workers() = ActiveWorker("node, rack 2");
  server_.fake().SetWorkers(workers);
  r = Rib({"workers", "-o", "csv"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "worker,name,state,devices,free_devices,running_jobs,last_heartbeat,datasets\n"
            "w-1,\"node, rack 2\",active,cuda:8,6,0,,[]\n");

  server_.fake().SetSweep(DemoSweep());
  r = Rib({"status", "sw-1", "-o", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("{\n  \"sweep\": \"sw-1\""));
  EXPECT_THAT(r.out, HasSubstr("\"succeeded\": 5"));

  r = Rib({"workers", "-o", "xml"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err,
            "rib: workers: -o: unknown output 'xml' (expected table, json or csv)\n");
}

TEST_F(CommandsTest, CancelRetryDrain) {
  server_.fake().SetSweep(DemoSweep());
  CliResult r = Rib({"cancel", "sw-1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "cancelled sweep sw-1: cancelled\n");
  r = Rib({"retry", "sw-1"});
  EXPECT_EQ(r.out, "retrying sweep sw-1: active\n");
  r = Rib({"drain", "w-3"});
  EXPECT_EQ(r.out, "worker w-3: draining, 1 jobs still running\n");
  EXPECT_THAT(server_.fake().calls(),
              ElementsAre("CancelSweep", "RetrySweep", "DrainWorker"));
}

// ---- watch ----

v1::SweepEvent StateEvent(const std::string& job, v1::JobState state) {
  v1::SweepEvent e;
  e.set_sweep_id("sw-1");
  e.set_job_id(job);
  e.set_job_label("vit/ft/" + job);
  e.set_state(state);
  return e;
}

v1::SweepEvent ProgressEvent(const std::string& job, int step, int steps) {
  v1::SweepEvent e = StateEvent(job, v1::JOB_STATE_RUNNING);
  v1::JobProgress* p = e.mutable_progress();
  p->set_epoch(0);  // 0-based: shown as "epoch 1/2"
  p->set_epochs(2);
  p->set_step(step);
  p->set_steps(steps);
  p->set_loss(0.5);
  return e;
}

v1::SweepEvent ResultEvent(const std::string& job, const std::string& dataset,
                           const std::string& subset, int correct, int total) {
  v1::SweepEvent e = StateEvent(job, v1::JOB_STATE_RUNNING);
  v1::Accuracy* a = e.mutable_result();
  a->set_dataset(dataset);
  a->set_subset(subset);
  a->set_correct(correct);
  a->set_total(total);
  return e;
}

v1::SweepEvent EndEvent(v1::SweepState state) {
  v1::SweepEvent e;
  e.set_sweep_id("sw-1");
  e.set_sweep_state(state);
  return e;
}

std::vector<v1::SweepEvent> SweepRun(v1::JobState job_b_end, v1::SweepState end) {
  v1::SweepEvent failed = StateEvent("b", job_b_end);
  failed.set_error("NaN loss at step 17");
  return {StateEvent("pre", v1::JOB_STATE_SUCCEEDED),  // snapshot: done before we watched
          StateEvent("a", v1::JOB_STATE_QUEUED),
          StateEvent("b", v1::JOB_STATE_QUEUED),
          StateEvent("a", v1::JOB_STATE_RUNNING),
          ProgressEvent("a", 5, 20),
          ProgressEvent("a", 6, 20),  // crosses 30%: printed
          ProgressEvent("a", 20, 20),
          ResultEvent("a", "fmnist-v2", "", 425, 500),
          ResultEvent("a", "fmnist-c", "gaussian_noise/3", 7, 10),  // subset: hidden
          StateEvent("a", v1::JOB_STATE_SUCCEEDED),
          StateEvent("b", v1::JOB_STATE_RUNNING),
          failed,
          EndEvent(end)};
}

TEST_F(CommandsTest, WatchSucceededExitsZero) {
  server_.fake().SetEvents(SweepRun(v1::JOB_STATE_SUCCEEDED, v1::SWEEP_STATE_SUCCEEDED));
  CliResult r = Rib({"watch", "sw-1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(server_.fake().last_watch().include_snapshot());
  EXPECT_EQ(server_.fake().last_watch().sweep_id(), "sw-1");
  EXPECT_EQ(r.out,
            "vit/ft/a: running\n"
            "vit/ft/a: [#######-----------------------]  25%  epoch 1/2  step 5/20  loss "
            "0.5000\n"
            "vit/ft/a: [#########---------------------]  30%  epoch 1/2  step 6/20  loss "
            "0.5000\n"
            "vit/ft/a: [##############################] 100%  epoch 1/2  step 20/20  "
            "loss 0.5000\n"
            "vit/ft/a: fmnist-v2 85.0% (425/500)\n"
            "vit/ft/a: succeeded\n"
            "vit/ft/b: running\n"
            "vit/ft/b: succeeded\n"
            "sweep sw-1 succeeded (3 succeeded)\n");
}

TEST_F(CommandsTest, WatchFailedExitsNonZeroWithOneLine) {
  server_.fake().SetEvents(SweepRun(v1::JOB_STATE_FAILED, v1::SWEEP_STATE_FAILED));
  CliResult r = Rib({"watch", "sw-1", "--subsets"});
  EXPECT_EQ(r.code, kExitSweepFailed);
  EXPECT_THAT(r.out, HasSubstr("vit/ft/b: failed: NaN loss at step 17\n"));
  EXPECT_THAT(r.out, HasSubstr("vit/ft/a: fmnist-c[gaussian_noise/3] 70.0% (7/10)\n"));
  EXPECT_THAT(r.out, HasSubstr("sweep sw-1 failed (2 succeeded, 1 failed)\n"));
  EXPECT_EQ(
      r.err,
      "rib: watch: sweep sw-1 ended failed: 1 of 3 jobs failed (rib status sw-1)\n");
}

TEST_F(CommandsTest, WatchCancelledAndTruncatedStreams) {
  server_.fake().SetEvents(
      {StateEvent("a", v1::JOB_STATE_CANCELLED), EndEvent(v1::SWEEP_STATE_CANCELLED)});
  CliResult r = Rib({"watch", "sw-1"});
  EXPECT_EQ(r.code, kExitSweepFailed);
  EXPECT_EQ(r.err, "rib: watch: sweep sw-1 ended cancelled\n");

  // A stream that keeps ending without the sweep's final state is an error once the
  // reconnect window has passed, not success.
  server_.fake().SetEvents({StateEvent("a", v1::JOB_STATE_RUNNING)});
  CliOptions no_reconnect;
  no_reconnect.watch_reconnect_window = absl::ZeroDuration();
  r = Rib({"watch", "sw-1"}, {}, false, no_reconnect);
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "rib: watch: the event stream ended before the sweep finished\n");
  CliOptions short_window;
  short_window.watch_reconnect_window = absl::Milliseconds(500);
  r = Rib({"watch", "sw-1"}, {}, false, short_window);
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "rib: watch: the event stream ended before the sweep finished\n");

  server_.fake().SetError("WatchSweep",
                          grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "not yours"));
  r = Rib({"watch", "sw-1"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "rib: watch: PERMISSION_DENIED: not yours\n");
}

TEST_F(CommandsTest, WatchReconnectsWhenTheStreamBreaks) {
  // The first stream ends mid-sweep (a coordinator restart); the second one, with a
  // fresh snapshot, runs to the end. Repeated states are not printed twice.
  std::vector<v1::SweepEvent> full =
      SweepRun(v1::JOB_STATE_SUCCEEDED, v1::SWEEP_STATE_SUCCEEDED);
  std::vector<v1::SweepEvent> partial(full.begin(), full.begin() + 5);  // up to 5/20
  std::vector<v1::SweepEvent> resumed = {StateEvent("pre", v1::JOB_STATE_SUCCEEDED),
                                         StateEvent("a", v1::JOB_STATE_RUNNING),
                                         StateEvent("b", v1::JOB_STATE_QUEUED)};
  resumed.insert(resumed.end(), full.begin() + 5, full.end());
  server_.fake().SetEventBatches({partial, resumed});
  CliResult r = Rib({"watch", "sw-1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "vit/ft/a: running\n"
            "vit/ft/a: [#######-----------------------]  25%  epoch 1/2  step 5/20  loss "
            "0.5000\n"
            "lost the event stream (ended early); reconnecting\n"
            "reconnected\n"
            "vit/ft/a: [#########---------------------]  30%  epoch 1/2  step 6/20  loss "
            "0.5000\n"
            "vit/ft/a: [##############################] 100%  epoch 1/2  step 20/20  "
            "loss 0.5000\n"
            "vit/ft/a: fmnist-v2 85.0% (425/500)\n"
            "vit/ft/a: succeeded\n"
            "vit/ft/b: running\n"
            "vit/ft/b: succeeded\n"
            "sweep sw-1 succeeded (3 succeeded)\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(CommandsTest, WatchOnTerminalRedrawsBarsInPlace) {
  server_.fake().SetEvents(SweepRun(v1::JOB_STATE_SUCCEEDED, v1::SWEEP_STATE_SUCCEEDED));
  CliResult r = RunRib({"--coordinator", server_.address(), "watch", "sw-1"}, {},
                       /*terminal=*/true, CliOptions(), /*terminal_width=*/200);
  EXPECT_EQ(r.code, 0) << r.err;
  // Bars are drawn below the log lines and erased (cursor up, clear line) before the
  // next line or redraw.
  EXPECT_THAT(r.out, HasSubstr("  vit/ft/a  [#######-----------------------]  25%"));
  EXPECT_THAT(r.out, HasSubstr("\x1b[1A\x1b[2K"));
  EXPECT_THAT(r.out, HasSubstr("vit/ft/a: fmnist-v2 85.0% (425/500)\n"));
  // Bar lines are cut to the terminal's width (a wrapped line would break the redraw).
  std::vector<std::string> args = {"--coordinator", server_.address(), "watch", "sw-1"};
  CliResult narrow = RunRib(args, {}, true, CliOptions(), 40);
  EXPECT_EQ(narrow.code, 0);
  // 39 columns: "  vit/ft/a  " (12), the bar shrunk to 10 (12 with brackets), then the
  // numbers, cut.
  EXPECT_THAT(narrow.out, HasSubstr("\x1b[2K  vit/ft/a  [##--------]  25%  epoch 1/\n"));
  // The last line is the summary.
  EXPECT_THAT(r.out, ::testing::EndsWith("sweep sw-1 succeeded (3 succeeded)\n"));
}

// ---- matrix ----

class MatrixCommandTest : public CommandsTest {
 protected:
  void SetUp() override {
    v1::GetMatrixResponse response;
    *response.add_matrices() = KnownMatrix();
    *response.add_matrices() = KnownMatrix("vit", "lp");
    server_.fake().SetMatrix(response);
    matrices_ = {KnownMatrix(), KnownMatrix("vit", "lp")};
  }
  std::vector<v1::Matrix> matrices_;
};

TEST_F(MatrixCommandTest, EveryFormat) {
  CliResult r = Rib({"matrix", "sw-1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, FormatTable(matrices_));
  EXPECT_THAT(r.out,
              HasSubstr("v2            88.0  -2.0   85.0  +5.0   52.0  +2.0  +2.00"));
  EXPECT_EQ(Rib({"matrix", "sw-1", "--format", "csv"}).out, FormatCsv(matrices_));
  EXPECT_EQ(Rib({"matrix", "sw-1", "--format=json"}).out, FormatJson(matrices_));
  EXPECT_EQ(Rib({"matrix", "sw-1", "--format", "latex"}).out, FormatLatex(matrices_));
  v1::GetMatrixRequest asked = server_.fake().last_matrix();
  EXPECT_EQ(asked.sweep_id(), "sw-1");
  EXPECT_EQ(asked.model(), "");
  Rib({"matrix", "sw-1", "--model", "vit", "--method", "lp"});
  EXPECT_EQ(server_.fake().last_matrix().model(), "vit");
  EXPECT_EQ(server_.fake().last_matrix().method(), "lp");
}

TEST_F(MatrixCommandTest, ColourOnlyOnATerminalWithoutOptOut) {
  EXPECT_THAT(Rib({"matrix", "sw-1"}, {}, true).out, HasSubstr("\x1b[32m+5.0\x1b[0m"));
  EXPECT_THAT(Rib({"matrix", "sw-1"}).out, Not(HasSubstr("\x1b[")));
  EXPECT_THAT(Rib({"matrix", "sw-1", "--no-color"}, {}, true).out,
              Not(HasSubstr("\x1b[")));
  EXPECT_THAT(Rib({"matrix", "sw-1"}, {{"NO_COLOR", "1"}}, true).out,
              Not(HasSubstr("\x1b[")));
}

TEST_F(MatrixCommandTest, SvgAndReportDirectory) {
  const std::string svg = dir_.Join("m.svg");
  const std::string out = dir_.Join("report/nested");
  CliResult r = Rib({"matrix", "sw-1", "--svg", svg, "--out", out});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ReadFile(svg), RenderHeatmapSvg(matrices_));
  EXPECT_THAT(r.out, ::testing::EndsWith("\nreport written to " + out + "\n"));
  EXPECT_EQ(ReadFile(out + "/matrix.csv"), FormatCsv(matrices_));
  EXPECT_EQ(ReadFile(out + "/matrix.json"), FormatJson(matrices_));
  EXPECT_EQ(ReadFile(out + "/heatmap_vit_ft.svg"), RenderHeatmapSvg({matrices_[0]}));
  EXPECT_EQ(ReadFile(out + "/heatmap_vit_lp.svg"), RenderHeatmapSvg({matrices_[1]}));
  EXPECT_EQ(ReadFile(out + "/summary.md"),
            "# rib sweep sw-1\n\n"
            "| model | method | mRI (points) | mRI 95% CI | mean OOD accuracy (%) | "
            "\xc2\xb1 SE | pre-trained (%) | mean pre-training change (points) |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|\n"
            "| vit | ft | -0.50 | [-2.85, +1.85] | 64.5 | 2.0 | 65.0 | -3.50 |\n"
            "| vit | lp | -0.50 | [-2.85, +1.85] | 64.5 | 2.0 | 65.0 | -3.50 |\n\n"
            "95% intervals are value \xc2\xb1 1.96 SE from the accuracies' binomial "
            "standard errors, the cells taken as independent (not a bootstrap).\n" +
                FormatFindingsMarkdown(matrices_) + "\n" + FormatMatricesMarkdown(matrices_));
  // The paper's figures: the headline bars and a radar per (model, fine-tune set).
  EXPECT_EQ(ReadFile(out + "/mean_ood_bars.svg"), RenderBarChartSvg(matrices_));
  EXPECT_EQ(ReadFile(out + "/radar_vit_fmnist-v2.svg"),
            RenderRadarSvg(matrices_, "vit", "fmnist-v2"));
  EXPECT_EQ(ReadFile(out + "/radar_vit_fmnist-a.svg"),
            RenderRadarSvg(matrices_, "vit", "fmnist-a"));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(out)) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 8);
}

TEST_F(MatrixCommandTest, NoResultsAndUnwritableOutput) {
  server_.fake().SetMatrix(v1::GetMatrixResponse());
  CliResult r = Rib({"matrix", "sw-1", "--method", "lora"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "rib: matrix: no results yet for sweep sw-1 and method lora\n");

  SetUp();
  const std::string file = dir_.Join("a-file");
  std::ofstream(file) << "x";
  r = Rib({"matrix", "sw-1", "--out", file + "/sub"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(LineCount(r.err), 1);
  EXPECT_THAT(r.err, StartsWith("rib: matrix: cannot create " + file + "/sub: "));
  r = Rib({"matrix", "sw-1", "--svg", dir_.Join("no/such/dir/m.svg")});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "rib: matrix: cannot write " + dir_.Join("no/such/dir/m.svg") +
                       ": No such file or directory\n");
  EXPECT_EQ(r.out, "");  // nothing printed when the command fails
}

}  // namespace
}  // namespace rib::client
