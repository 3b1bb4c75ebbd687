// rib-test-labels: postgres
// SweepService, WorkerService, LeaseExpirer, EventPruner and PoolMetrics over
// PostgreSQL (a fake clock drives leases and event times).
#include "server/service/sweep_service.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/hash.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/event_pruner.h"
#include "server/service/lease_expirer.h"
#include "server/service/matrix.h"
#include "server/service/pool_metrics.h"
#include "server/service/worker_service.h"
#include "server/storage/postgres/pg_change_notifier.h"
#include "server/storage/postgres/postgres_repository.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/server/testing/sweep_fixtures.h"
#include "tests/testing/hub_cache.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib::service {
namespace {

using domain::JobState;
using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;
using ::rib::testing::kWorkerUser;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::SizeIs;

auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new ::rib::testing::PgEnvironment("service"));

constexpr const char* kGrid = ::rib::testing::kGridSweepYaml;
constexpr const char* kSmall = ::rib::testing::kSmallSweepYaml;

class SweepServiceTest : public ::testing::Test {
 protected:
  SweepServiceTest() {
    ::rib::testing::WriteSweepModelFiles(root_.path());
    ::rib::testing::TruncateAllTables();
    storage::PostgresOptions pg;
    pg.uri = ::rib::testing::PgTestUri();
    pg.repository.clock = &clock_;
    pg.repository.expiry_grace_after = absl::InfiniteDuration();  // the clock jumps
    auto repo = storage::PostgresRepository::Create(pg);
    EXPECT_THAT(repo, IsOk());
    repo_ = std::move(*repo);
    auto changes = storage::PgChangeNotifier::Create(pg.uri);
    EXPECT_THAT(changes, IsOk());
    changes_ = std::move(*changes);
    SweepServiceOptions so;
    so.artifact_root = root_.path();
    so.watch_poll = absl::Milliseconds(20);
    sweeps_ = std::make_unique<SweepService>(repo_.get(), changes_.get(), so);
    WorkerServiceOptions wo;
    wo.poll = absl::Milliseconds(20);
    workers_ = std::make_unique<WorkerService>(repo_.get(), changes_.get(), wo);
  }

  // One CPU worker with kSmall's datasets.
  absl::StatusOr<Registration> RegisterWorker() {
    storage::WorkerRegistration reg;
    reg.name = "w";
    reg.principal = kWorkerUser;
    reg.devices = {{"cpu", 1, 0}};
    reg.datasets = {"fmnist-val", "fmnist-v2", "fmnist-c"};
    return workers_->Register(reg);
  }

  absl::StatusOr<storage::SubmitResult> Submit(const std::string& yaml,
                                               const std::string& id = "") {
    SubmitRequest r;
    r.yaml = yaml;
    r.source_name = "t.yaml";
    r.client_request_id = id;
    r.owner = "alice";
    return sweeps_->Submit(r);
  }

  ::rib::testing::ScratchDir root_;
  scheduling::FakeClock clock_;
  std::unique_ptr<storage::PostgresRepository> repo_;
  std::unique_ptr<storage::PgChangeNotifier> changes_;
  std::unique_ptr<SweepService> sweeps_;
  std::unique_ptr<WorkerService> workers_;
};

TEST_F(SweepServiceTest, GridExpandsToCellsPlusPreJobs) {
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult r, Submit(kGrid, "g"));
  EXPECT_EQ(r.jobs_total, 3 * 4 * 8 + 3);
  RIB_ASSERT_OK_AND_ASSIGN(domain::Sweep s, sweeps_->Get(r.sweep_id));
  EXPECT_EQ(s.owner, "alice");
  EXPECT_EQ(s.suite, "fmnist-rib");
  EXPECT_EQ(s.counts[JobState::kQueued], 51);
  EXPECT_EQ(s.counts[JobState::kPending], 48);
  EXPECT_EQ(s.models, (std::vector<std::string>{"m1", "m2", "m3"}));
  EXPECT_THAT(s.finetune_datasets, SizeIs(8));
  EXPECT_EQ(s.eval_datasets.front(), "fmnist-val");
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult again, Submit(kGrid, "g"));
  EXPECT_TRUE(again.existing);
  EXPECT_EQ(again.sweep_id, r.sweep_id);
}

TEST_F(SweepServiceTest, FillsTheWeightsDigestFromTheFile) {
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult r, Submit(kSmall));
  storage::JobFilter f;
  f.sweep_id = r.sweep_id;
  RIB_ASSERT_OK_AND_ASSIGN(storage::JobList jobs, sweeps_->ListJobs(f));
  ASSERT_THAT(jobs.jobs, SizeIs(2));
  EXPECT_EQ(jobs.jobs[0].spec.model.weights_digest,
            Sha256Hex(::rib::testing::SweepModelFileContent("m1")));
  EXPECT_EQ(jobs.jobs[0].spec.model.weights, "models/m1.safetensors");
  // Changing the file's content changes every hash: nothing is reused.
  std::ofstream(root_.Join("models/m1.safetensors")) << "retrained";
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult r2, Submit(kSmall));
  f.sweep_id = r2.sweep_id;
  RIB_ASSERT_OK_AND_ASSIGN(storage::JobList jobs2, sweeps_->ListJobs(f));
  EXPECT_NE(jobs2.jobs[0].hash, jobs.jobs[0].hash);
}

TEST_F(SweepServiceTest, SharedWeightsGetOneDigestAndARewriteIsHashedAgain) {
  const std::string two_models = R"(name: shared
models:
  - {name: a, arch: fmnist_vit, weights: models/m1.safetensors}
  - {name: b, arch: fmnist_vit, weights: models/m1.safetensors}
methods: [ft]
finetune_datasets: [fmnist-v2]
eval_datasets: [fmnist-val, fmnist-v2]
)";
  auto digests = [&](const std::string& sweep_id) {
    storage::JobFilter f;
    f.sweep_id = sweep_id;
    std::set<std::string> out;
    auto jobs = sweeps_->ListJobs(f);
    EXPECT_THAT(jobs, IsOk());
    if (jobs.ok()) {
      for (const domain::Job& j : jobs->jobs) out.insert(j.spec.model.weights_digest);
    }
    return out;
  };
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult r, Submit(two_models));
  EXPECT_EQ(digests(r.sweep_id),
            std::set<std::string>{Sha256Hex(::rib::testing::SweepModelFileContent("m1"))});
  // The same size, rewritten at once (within one timestamp tick, perhaps): the new
  // bytes' digest, never the remembered one.
  const std::string same_size = ::rib::testing::SweepModelFileContent("m9");
  ASSERT_EQ(same_size.size(), ::rib::testing::SweepModelFileContent("m1").size());
  std::ofstream(root_.Join("models/m1.safetensors")) << same_size;
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult r2, Submit(two_models));
  EXPECT_EQ(digests(r2.sweep_id), std::set<std::string>{Sha256Hex(same_size)});
}

TEST_F(SweepServiceTest, HubWeightsResolveToTheSnapshotAndItsConfig) {
  // A hub cache in huggingface_hub's layout, outside the artifact root.
  ::rib::testing::ScratchDir cache;
  const std::string name = "vit_base_patch16_clip_224.openai_ft_in1k";
  const std::string commit_a(40, 'a'), commit_b(40, 'b');
  const std::string config = R"({"architecture": "vit_base_patch16_clip_224",
      "pretrained_cfg": {"input_size": [3, 224, 224], "crop_pct": 0.8}})";
  ::rib::testing::WriteHubSnapshot(cache.path(), "timm", name, {commit_a, "bytes-a", config});
  SweepServiceOptions so;
  so.artifact_root = root_.path();
  so.hf_cache = cache.path();
  SweepService hub(repo_.get(), changes_.get(), so);
  const std::string yaml = R"(name: hub
models:
  - {name: clip, weights: "hf-hub:timm/vit_base_patch16_clip_224.openai_ft_in1k"}
methods: [ft]
finetune_datasets: [fmnist-v2]
eval_datasets: [fmnist-val, fmnist-v2]
)";
  SubmitRequest request;
  request.yaml = yaml;
  request.owner = "alice";
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult r, hub.Submit(request));
  storage::JobFilter f;
  f.sweep_id = r.sweep_id;
  RIB_ASSERT_OK_AND_ASSIGN(storage::JobList jobs, hub.ListJobs(f));
  ASSERT_THAT(jobs.jobs, SizeIs(2));
  // Stored with the job: the workers' mirror path, the snapshot's digest, the arch
  // with the repository's tag and config.json's preprocessing over the table's.
  const ModelSpec& m = jobs.jobs[0].spec.model;
  EXPECT_EQ(m.weights, "hf-hub/models--timm--" + name + "/snapshots/" + commit_a +
                           "/model.safetensors");
  EXPECT_EQ(m.weights_digest, Sha256Hex("bytes-a"));
  EXPECT_EQ(m.arch, name);
  EXPECT_DOUBLE_EQ(m.preprocessing.crop_pct, 0.8);
  EXPECT_DOUBLE_EQ(m.preprocessing.mean[0], 0.48145466);  // the table's CLIP mean

  // main moves to a new snapshot: new jobs, nothing reused.
  ::rib::testing::WriteHubSnapshot(cache.path(), "timm", name, {commit_b, "bytes-b", config});
  request.yaml = yaml + "priority: 1\n";  // a new submission, not the same request
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult r2, hub.Submit(request));
  EXPECT_EQ(r2.jobs_reused, 0);
  f.sweep_id = r2.sweep_id;
  RIB_ASSERT_OK_AND_ASSIGN(storage::JobList jobs2, hub.ListJobs(f));
  EXPECT_EQ(jobs2.jobs[0].spec.model.weights_digest, Sha256Hex("bytes-b"));
  EXPECT_NE(jobs2.jobs[0].hash, jobs.jobs[0].hash);

  // A model the cache does not have: the path searched, and no download.
  std::string missing = yaml;
  missing.replace(missing.find("openai_ft_in1k"), 14, "no_such_tag");
  request.yaml = missing;
  EXPECT_THAT(hub.Submit(request),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("model 'clip'"),
                             HasSubstr(cache.path() +
                                       "/models--timm--vit_base_patch16_clip_224.no_such_tag"),
                             HasSubstr("never downloads"))));
}

TEST_F(SweepServiceTest, RejectsTyposMissingWeightsAndEscapes) {
  std::string typo = kGrid;
  typo.replace(typo.find("wise-ft"), 7, "wise-fft");
  EXPECT_THAT(Submit(typo),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("wise-fft")));
  std::string missing = kSmall;
  missing.replace(missing.find("m1.safetensors"), 2, "m9");
  EXPECT_THAT(Submit(missing),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("model 'm1' weights: 'models/m9.safetensors'")));
  std::string escape = kSmall;
  escape.replace(escape.find("models/"), 7, "../../");
  EXPECT_THAT(Submit(escape), StatusIs(absl::StatusCode::kInvalidArgument));
  RIB_ASSERT_OK_AND_ASSIGN(storage::SweepList list, sweeps_->List(0, ""));
  EXPECT_THAT(list.sweeps, SizeIs(0));
}

// kSmall with model m1's weights (and arch) replaced.
std::string SmallWith(const std::string& weights, const std::string& arch = "fmnist_vit") {
  std::string yaml = kSmall;
  yaml.replace(yaml.find("models/m1.safetensors"), 21, weights);
  yaml.replace(yaml.find("fmnist_vit"), 10, arch);
  return yaml;
}

TEST_F(SweepServiceTest, WeightsThroughASymlinkOutOfTheArtifactRootAreRefused) {
  ::rib::testing::ScratchDir outside;
  std::ofstream(outside.Join("secret")) << "not yours";
  std::filesystem::create_symlink(outside.Join("secret"), root_.Join("models/evil.safetensors"));
  std::filesystem::create_directory_symlink(outside.path(), root_.Join("models/out"));
  EXPECT_THAT(Submit(SmallWith("models/evil.safetensors")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("model 'm1' weights"),
                             HasSubstr("models/evil.safetensors"),
                             HasSubstr("outside its root"))));
  EXPECT_THAT(Submit(SmallWith("models/out/secret")),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("models/out/secret")));
  RIB_ASSERT_OK_AND_ASSIGN(storage::SweepList list, sweeps_->List(0, ""));
  EXPECT_THAT(list.sweeps, SizeIs(0));
}

TEST_F(SweepServiceTest, WeightsThroughASymlinkInsideTheRootAreHashedThroughIt) {
  std::filesystem::create_symlink("m2.safetensors", root_.Join("models/alias.safetensors"));
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult r, Submit(SmallWith("models/alias.safetensors")));
  storage::JobFilter f;
  f.sweep_id = r.sweep_id;
  RIB_ASSERT_OK_AND_ASSIGN(storage::JobList jobs, sweeps_->ListJobs(f));
  ASSERT_THAT(jobs.jobs, SizeIs(2));
  EXPECT_EQ(jobs.jobs[0].spec.model.weights_digest,
            Sha256Hex(::rib::testing::SweepModelFileContent("m2")));
}

// A FIFO would block the hashing read forever: Submit must come back with an error (if
// it did not, this test would hang rather than fail).
TEST_F(SweepServiceTest, AFifoOrADirectoryAsWeightsIsRefused) {
  ASSERT_EQ(::mkfifo(root_.Join("models/fifo.safetensors").c_str(), 0600), 0);
  EXPECT_THAT(Submit(SmallWith("models/fifo.safetensors")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("models/fifo.safetensors"),
                             HasSubstr("is not a regular file (it is a FIFO)"))));
  EXPECT_THAT(Submit(SmallWith("models")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'models'"), HasSubstr("is not a regular file"))));
}

TEST_F(SweepServiceTest, TorchScriptIsRefusedUnlessTheCoordinatorAllowsIt) {
  // A TorchScript archive by name, by its zip magic under another name, and by arch.
  std::ofstream(root_.Join("models/m.pt")) << "any bytes";
  std::ofstream(root_.Join("models/zip.bin"), std::ios::binary) << std::string("PK\3\4rest");
  const std::string by_name = SmallWith("models/m.pt");
  const std::string by_magic = SmallWith("models/zip.bin");
  const std::string by_arch = SmallWith("models/m1.safetensors", "torchscript");
  for (const std::string& yaml : {by_name, by_magic, by_arch}) {
    EXPECT_THAT(Submit(yaml), StatusIs(absl::StatusCode::kInvalidArgument,
                                       AllOf(HasSubstr("model 'm1'"), HasSubstr("TorchScript"),
                                             HasSubstr("--allow-torchscript"))))
        << yaml;
  }
  SweepServiceOptions allow;
  allow.artifact_root = root_.path();
  allow.allow_torchscript = true;
  sweeps_ = std::make_unique<SweepService>(repo_.get(), changes_.get(), allow);
  for (const std::string& yaml : {by_name, by_magic, by_arch}) {
    EXPECT_THAT(Submit(yaml), IsOk()) << yaml;
  }
}

// torchvision's .pth (a torch.save state_dict archive: data.pkl, no code/) is data the
// engine's restricted unpickler reads: accepted without --allow-torchscript.
TEST_F(SweepServiceTest, AStateDictPthIsNotTorchScript) {
  const std::string cmd =
      "/usr/bin/python3 -c \"import sys, zipfile\n"
      "z = zipfile.ZipFile(sys.argv[1], 'w')\n"
      "for r in ['resnet18/data.pkl', 'resnet18/data/0', 'resnet18/version']:\n"
      "    z.writestr(r, b'x')\n"
      "z.close()\" " + root_.Join("models/resnet18.pth");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_THAT(Submit(SmallWith("models/resnet18.pth")), IsOk());
}

TEST_F(SweepServiceTest, ASweepOverTheJobLimitIsRefusedWithItsCountAndWritesNothing) {
  // 100 models × (1 + (125 wise-ft methods + the ft they need) × 4 fine-tune datasets)
  // = 50,500 jobs > 20,000.
  std::string yaml = "name: huge\nmodels:\n";
  for (int i = 0; i < 100; ++i) {
    absl::StrAppend(&yaml, "  - {name: m", i,
                    ", arch: fmnist_vit, weights: models/m1.safetensors}\n");
  }
  yaml += "methods:\n";
  for (int i = 1; i <= 125; ++i) {
    absl::StrAppend(&yaml, "  - {name: w", i, ", kind: wise-ft, params: {alpha: 0.",
                    absl::StrFormat("%03d", i), "}}\n");
  }
  yaml += "finetune_datasets: [fmnist-v2, fmnist-r, fmnist-c, fmnist-a]\n";
  EXPECT_THAT(Submit(yaml),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("sweep 'huge' expands to 50500 jobs"),
                             HasSubstr("20000"), HasSubstr("--max-jobs-per-sweep"))));
  RIB_ASSERT_OK_AND_ASSIGN(storage::SweepList list, sweeps_->List(0, ""));
  EXPECT_THAT(list.sweeps, SizeIs(0));
}

TEST_F(SweepServiceTest, APriorityAboveTheLimitIsRefusedAndTheLimitItselfIsAccepted) {
  EXPECT_THAT(Submit(absl::StrCat(kSmall, "priority: 11\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("priority 11 is above the coordinator's limit of 10"),
                             HasSubstr("--max-sweep-priority"))));
  RIB_ASSERT_OK_AND_ASSIGN(storage::SweepList list, sweeps_->List(0, ""));
  EXPECT_THAT(list.sweeps, SizeIs(0));
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult ok,
                           Submit(absl::StrCat(kSmall, "priority: 10\n")));
  RIB_ASSERT_OK_AND_ASSIGN(domain::Sweep sweep, sweeps_->Get(ok.sweep_id));
  EXPECT_EQ(sweep.priority, 10);
}

TEST_F(SweepServiceTest, EmptyMatrixHasTheFullShape) {
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult r, Submit(kGrid));
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::Matrix> all,
                           sweeps_->GetMatrix(r.sweep_id, "", ""));
  ASSERT_THAT(all, SizeIs(12));
  EXPECT_EQ(all[5].model, "m2");
  EXPECT_EQ(all[5].method, "lp");
  EXPECT_THAT(all[5].rows, SizeIs(8));
  EXPECT_THAT(all[5].rows[7].cells, SizeIs(9));
  EXPECT_FALSE(all[5].rows[7].cells[8].present);
  EXPECT_FALSE(all[5].mri.has_value());
  RIB_ASSERT_OK_AND_ASSIGN(auto one, sweeps_->GetMatrix(r.sweep_id, "m3", "wise-ft"));
  ASSERT_THAT(one, SizeIs(1));
  EXPECT_EQ(one[0].model, "m3");
  EXPECT_THAT(sweeps_->GetMatrix(r.sweep_id, "m4", ""),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("m4")));
  EXPECT_THAT(sweeps_->GetMatrix(r.sweep_id, "", "lora"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("lora")));
}

TEST_F(SweepServiceTest, WatchStreamsUntilTheSweepIsTerminal) {
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult r, Submit(kSmall));
  std::vector<domain::SweepEvent> seen;
  absl::Status status;
  std::thread watcher([&] {
    status = sweeps_->Watch(
        r.sweep_id, /*snapshot=*/true,
        [&](const domain::SweepEvent& e) {
          seen.push_back(e);
          return true;
        },
        [] { return false; });
  });
  absl::SleepFor(absl::Milliseconds(100));
  ASSERT_THAT(sweeps_->Cancel(r.sweep_id, "alice"), IsOk());
  watcher.join();
  ASSERT_THAT(status, IsOk());
  ASSERT_THAT(seen, SizeIs(2 + 2 + 1));  // snapshot, 2 cancellations, sweep state
  EXPECT_EQ(seen[0].job_state, JobState::kQueued);
  EXPECT_EQ(seen[2].job_state, JobState::kCancelled);
  EXPECT_EQ(seen[4].kind, domain::SweepEvent::Kind::kSweepState);
  EXPECT_EQ(seen[4].sweep_state, domain::SweepState::kCancelled);

  // Watching a sweep that is already terminal ends at once with its state.
  seen.clear();
  ASSERT_THAT(sweeps_->Watch(
                  r.sweep_id, false,
                  [&](const domain::SweepEvent& e) {
                    seen.push_back(e);
                    return true;
                  },
                  [] { return false; }),
              IsOk());
  ASSERT_THAT(seen, SizeIs(1));
  EXPECT_EQ(seen[0].sweep_state, domain::SweepState::kCancelled);
  EXPECT_THAT(sweeps_->Watch(
                  "nope", false, [](const auto&) { return true; }, [] { return false; }),
              StatusIs(absl::StatusCode::kNotFound));
}

// `device_kind: cuda` in the sweep file reaches placement: a CPU-only worker gets none
// of its jobs; without the key (any kind) it gets them.
TEST_F(SweepServiceTest, ACudaSweepIsNotHandedToACpuWorker) {
  RIB_ASSERT_OK_AND_ASSIGN(Registration w, RegisterWorker());
  const std::string cuda = absl::StrCat(kSmall, "device_kind: cuda\n");
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult r, Submit(cuda));
  EXPECT_EQ(r.jobs_new, 2);
  RIB_ASSERT_OK_AND_ASSIGN(
      auto none, workers_->Acquire(kWorkerUser, w.worker.id, 1, "cpu", absl::Milliseconds(50),
                                   [] { return false; }));
  EXPECT_FALSE(none.has_value());
  RIB_ASSERT_OK_AND_ASSIGN(
      auto none_any, workers_->Acquire(kWorkerUser, w.worker.id, 1, "", absl::Milliseconds(50),
                                       [] { return false; }));
  EXPECT_FALSE(none_any.has_value());
  const std::string any = absl::StrReplaceAll(kSmall, {{"name: small", "name: small-any"}});
  ASSERT_THAT(Submit(any).status(), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(
      auto lease,
      workers_->Acquire(kWorkerUser, w.worker.id, 1, "cpu", absl::Seconds(5), [] { return false; }));
  ASSERT_TRUE(lease.has_value());
  RIB_ASSERT_OK_AND_ASSIGN(domain::Job job, sweeps_->GetJob(lease->job_id));
  EXPECT_NE(job.sweep_id, r.sweep_id);  // the any-kind sweep's job, not the cuda one's
}

TEST_F(SweepServiceTest, AcquireWaitsForAJobAndTheExpirerRequeuesExpiredLeases) {
  RIB_ASSERT_OK_AND_ASSIGN(Registration w, RegisterWorker());
  RIB_ASSERT_OK_AND_ASSIGN(
      auto none, workers_->Acquire(kWorkerUser, w.worker.id, 1, "cpu", absl::Milliseconds(50),
                                   [] { return false; }));
  EXPECT_FALSE(none.has_value());
  std::thread submit([&] {
    absl::SleepFor(absl::Milliseconds(100));
    EXPECT_THAT(Submit(kSmall), IsOk());
  });
  RIB_ASSERT_OK_AND_ASSIGN(
      auto lease,
      workers_->Acquire(kWorkerUser, w.worker.id, 1, "cpu", absl::Seconds(10), [] { return false; }));
  submit.join();
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->attempt, 1);

  LeaseExpirer expirer(repo_.get(), absl::Milliseconds(10));
  clock_.Advance(absl::Seconds(31));
  for (int i = 0; i < 500; ++i) {
    auto job = sweeps_->GetJob(lease->job_id);
    ASSERT_THAT(job, IsOk());
    if (job->state == JobState::kQueued) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  RIB_ASSERT_OK_AND_ASSIGN(domain::Job job, sweeps_->GetJob(lease->job_id));
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_THAT(job.error, HasSubstr("expired"));
  EXPECT_THAT(workers_->Heartbeat(kWorkerUser, "nope", {}, 0), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SweepServiceTest, AWorkersClaimsAreCheckedWhenItRegisters) {
  auto reg = [] {
    storage::WorkerRegistration r;
    r.name = "w";
    r.devices = {{"cpu", 2, 0}};
    r.datasets = {"fmnist-val"};
    return r;
  };
  storage::WorkerRegistration bad = reg();
  bad.datasets = {"fmnist-val", "../../etc"};
  EXPECT_THAT(workers_->Register(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'../../etc'")));
  bad = reg();
  bad.devices = {{"tpu", 1, 0}};
  EXPECT_THAT(workers_->Register(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'tpu'")));
  bad = reg();
  bad.devices = {{"cuda", 1000000, 0}};
  EXPECT_THAT(workers_->Register(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0..1024")));
  bad = reg();
  bad.devices = {{"cpu", 1, 0}, {"cpu", 1, 0}};
  EXPECT_THAT(workers_->Register(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
  bad = reg();
  bad.datasets.assign(100, "fmnist-val");
  EXPECT_THAT(workers_->Register(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 64")));
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<domain::Worker> none, workers_->ListWorkers());
  EXPECT_TRUE(none.empty());  // nothing of the refused claims was stored
  EXPECT_THAT(workers_->Register(reg()), IsOk());
}

TEST_F(SweepServiceTest, AReportIsCheckedAndBoundedBeforeItIsStored) {
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult sweep, Submit(kSmall));
  RIB_ASSERT_OK_AND_ASSIGN(Registration w, RegisterWorker());
  RIB_ASSERT_OK_AND_ASSIGN(
      auto lease,
      workers_->Acquire(kWorkerUser, w.worker.id, 1, "cpu", absl::Seconds(1), [] { return false; }));
  ASSERT_TRUE(lease.has_value());
  domain::JobReport base;
  base.job_id = lease->job_id;
  base.attempt = lease->attempt;
  base.lease_secret = lease->secret;
  base.reporter = kWorkerUser;
  auto result = [&](const std::string& dataset, int64_t correct, int64_t total) {
    domain::JobReport r = base;
    r.kind = domain::JobReport::Kind::kResult;
    r.result = {dataset, "", correct, total, 0};
    return workers_->Report(r);
  };
  EXPECT_THAT(result("no-such-set", 1, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no-such-set")));
  EXPECT_THAT(result("fmnist-val", 3, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("correct <= total")));
  EXPECT_THAT(result("fmnist-val", -1, 2), StatusIs(absl::StatusCode::kInvalidArgument));
  // A distance names two known datasets and is finite, with epsilon and examples > 0.
  auto distance = [&](DatasetDistanceRow d) {
    domain::JobReport r = base;
    r.kind = domain::JobReport::Kind::kDistance;
    r.distance = std::move(d);
    return workers_->Report(r);
  };
  const DatasetDistanceRow good{"fmnist-val", "fmnist-v2", 3.5, 100, 80, 0.1, true};
  DatasetDistanceRow bad = good;
  bad.target_dataset = "no-such-target";
  EXPECT_THAT(distance(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no-such-target")));
  for (double value : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    bad = good;
    bad.distance = value;
    EXPECT_THAT(distance(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("need a finite distance")))
        << value;
  }
  bad = good;
  bad.epsilon = 0;
  EXPECT_THAT(distance(bad), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("epsilon > 0")));
  bad = good;
  bad.target_examples = 0;
  EXPECT_THAT(distance(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("examples > 0")));
  domain::JobReport checkpoint = base;
  checkpoint.kind = domain::JobReport::Kind::kCheckpoint;
  for (const char* bad : {"/etc/passwd", "../elsewhere/x.ckpt", "checkpoints/../../x"}) {
    checkpoint.checkpoint = bad;
    EXPECT_THAT(workers_->Report(checkpoint),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("artifact root")))
        << bad;
  }
  // Nothing of the refused reports was stored.
  RIB_ASSERT_OK_AND_ASSIGN(domain::Job job, sweeps_->GetJob(lease->job_id));
  EXPECT_TRUE(job.results.empty());
  RIB_ASSERT_OK_AND_ASSIGN(auto distances, repo_->ListDatasetDistances(sweep.sweep_id));
  EXPECT_TRUE(distances.empty());
  EXPECT_THAT(result("fmnist-val", 1, 2), IsOk());
  // An overlong error is cut, not refused: the failure is still recorded.
  domain::JobReport failed = base;
  failed.kind = domain::JobReport::Kind::kFinished;
  failed.ok = false;
  failed.code = absl::StatusCode::kInvalidArgument;
  failed.error = std::string(100000, 'e');
  ASSERT_THAT(workers_->Report(failed), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(job, sweeps_->GetJob(lease->job_id));
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_LT(job.error.size(), kMaxReportErrorBytes + 100);
  EXPECT_THAT(job.error, HasSubstr("95904 more bytes cut"));
  (void)sweep;
}

TEST_F(SweepServiceTest, EventPrunerDeletesOldProgressOfFinishedJobs) {
  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult sweep, Submit(kSmall));
  RIB_ASSERT_OK_AND_ASSIGN(Registration w, RegisterWorker());
  RIB_ASSERT_OK_AND_ASSIGN(
      auto lease,
      workers_->Acquire(kWorkerUser, w.worker.id, 1, "cpu", absl::Seconds(1), [] { return false; }));
  ASSERT_TRUE(lease.has_value());
  domain::JobReport report;
  report.job_id = lease->job_id;
  report.attempt = lease->attempt;
  report.lease_secret = lease->secret;
  report.reporter = kWorkerUser;
  report.kind = domain::JobReport::Kind::kProgress;
  report.progress = {1, 1, 5, 10, 0.5, 0.01};
  ASSERT_THAT(repo_->Report(report), IsOk());
  for (const std::string& d : lease->spec.eval_datasets) {  // a success needs them all
    domain::JobReport result = report;
    result.kind = domain::JobReport::Kind::kResult;
    result.result = {d, "", 1, 2, 0};
    ASSERT_THAT(repo_->Report(result), IsOk());
  }
  report.kind = domain::JobReport::Kind::kFinished;
  report.ok = true;
  report.weights = "weights/x.safetensors";
  ASSERT_THAT(repo_->Report(report), IsOk());
  auto progress_events = [&] {
    auto events = repo_->ListEvents(sweep.sweep_id, 0, 1000);
    EXPECT_THAT(events, IsOk());
    int n = 0;
    for (const auto& e : events.value_or(std::vector<domain::SweepEvent>{})) {
      n += e.kind == domain::SweepEvent::Kind::kProgress;
    }
    return n;
  };
  ASSERT_EQ(progress_events(), 1);

  EventPruner pruner(repo_.get(), /*retention=*/absl::Hours(1), absl::Milliseconds(10),
                     &clock_);
  // Within the retention the event stays.
  RIB_ASSERT_OK_AND_ASSIGN(int64_t none, pruner.PruneOnce());
  EXPECT_EQ(none, 0);
  clock_.Advance(absl::Hours(2));
  for (int i = 0; i < 500 && progress_events() > 0; ++i)
    absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(progress_events(), 0);
  RIB_ASSERT_OK_AND_ASSIGN(domain::Job job, sweeps_->GetJob(lease->job_id));
  EXPECT_EQ(job.state, JobState::kSucceeded);
}

// {state label → value} of one family of a scrape; empty when the family is missing.
std::map<std::string, double> Family(const std::vector<prometheus::MetricFamily>& scrape,
                                     const std::string& name) {
  std::map<std::string, double> out;
  for (const auto& family : scrape) {
    if (family.name != name) continue;
    EXPECT_EQ(family.type, prometheus::MetricType::Gauge) << name;
    for (const auto& m : family.metric) {
      EXPECT_EQ(m.label.size(), 1u);
      if (!m.label.empty()) out[m.label[0].value] = m.gauge.value;
    }
  }
  return out;
}

TEST_F(SweepServiceTest, PoolMetricsCountJobsAndWorkersByState) {
  PoolMetrics metrics(repo_.get());
  std::map<std::string, double> jobs = Family(metrics.Collect(), "rib_jobs");
  ASSERT_EQ(jobs.size(), 7u);  // every state, zeros included
  EXPECT_EQ(jobs["QUEUED"], 0);

  RIB_ASSERT_OK_AND_ASSIGN(storage::SubmitResult sweep, Submit(kSmall));
  ASSERT_GE(sweep.jobs_total, 2);
  RIB_ASSERT_OK_AND_ASSIGN(Registration w, RegisterWorker());
  RIB_ASSERT_OK_AND_ASSIGN(
      auto lease,
      workers_->Acquire(kWorkerUser, w.worker.id, 1, "cpu", absl::Seconds(1), [] { return false; }));
  ASSERT_TRUE(lease.has_value());

  // The same numbers as the repository's own listing.
  std::map<std::string, double> expected;
  storage::JobFilter all;
  all.sweep_id = sweep.sweep_id;
  all.page_size = 1000;
  RIB_ASSERT_OK_AND_ASSIGN(storage::JobList list, repo_->ListJobs(all));
  for (const auto& job : list.jobs) expected[domain::JobStateName(job.state)] += 1;
  jobs = Family(metrics.Collect(), "rib_jobs");
  EXPECT_EQ(jobs["LEASED"], 1);
  for (const auto& [state, n] : expected) EXPECT_EQ(jobs[state], n) << state;
  double total = 0;
  for (const auto& [state, n] : jobs) total += n;
  EXPECT_EQ(total, sweep.jobs_total);

  std::map<std::string, double> workers = Family(metrics.Collect(), "rib_workers");
  EXPECT_EQ(workers,
            (std::map<std::string, double>{{"ACTIVE", 1}, {"DRAINING", 0}, {"LOST", 0}}));
}

}  // namespace
}  // namespace rib::service
