#include "worker/rank/rank_runtime.h"

#include <signal.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>
#if defined(RIB_WITH_CUDA)
#include <ATen/cuda/CUDAContext.h>
#endif

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/version.h"
#include "proto/convert/job_spec_convert.h"
#include "worker/dist/process_group.h"
#include "worker/engine/events.h"
#include "worker/engine/runner.h"
#include "worker/engine/threads.h"
#include "worker/protocol/job_file.h"
#include "worker/protocol/rank_env.h"
#include "worker/protocol/rank_link.h"

namespace rib::rank {
namespace {

// Set by SIGTERM; the engine polls it at step boundaries (lock-free, so a handler may
// store to it).
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnSigterm(int) { g_stop.store(true); }

void InstallStopHandler() {
  struct sigaction sa = {};
  sa.sa_handler = OnSigterm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
}

// How often, at most, OnAlive touches the heartbeat file: often enough for any hang
// timeout worth having (the agent's default is 30 minutes), rarely enough that a
// training step or evaluation batch of a millisecond costs nothing measurable.
constexpr absl::Duration kAliveTouchInterval = absl::Seconds(1);

// Touches the rank's heartbeat file on every event and, at most once per
// kAliveTouchInterval, on every training step and evaluation batch (OnAlive), so the
// launcher's hang timeout measures the time since the last step or batch, not since
// the last event; rank 0 also sends every event to the agent.
class RankSink : public engine::EventSink {
 public:
  RankSink(std::string heartbeat_file, protocol::RankLinkWriter* link, std::string job)
      : heartbeat_file_(std::move(heartbeat_file)), link_(link), job_(std::move(job)) {}

  void OnProgress(int epoch, int epochs, int64_t step, int64_t steps, double loss,
                  double lr) override {
    ++progress_reports_;
    last_progress_ = absl::Now();
    alive_at_last_progress_ = alive_calls_;
    v1::JobEvent e;
    v1::JobProgress* p = e.mutable_progress();
    p->set_epoch(epoch);
    p->set_epochs(epochs);
    p->set_step(step);
    p->set_steps(steps);
    p->set_loss(loss);
    p->set_lr(lr);
    Send(e);
  }
  void OnResult(const std::string& dataset, const std::string& subset, int64_t correct,
                int64_t total, int64_t skipped) override {
    OnResultRow(ResultRow{dataset, subset, correct, total, skipped});
  }
  void OnResultRow(const ResultRow& row) override {
    last_result_ = absl::Now();
    eval_images_ += row.total + row.skipped;
    v1::JobEvent e;
    v1::Accuracy* a = e.mutable_result();
    a->set_dataset(row.dataset);
    a->set_subset(row.subset);
    a->set_correct(row.correct);
    a->set_total(row.total);
    a->set_skipped(row.skipped);
    a->set_correct_bits(row.correct_bits);
    a->set_evaluated_bits(row.evaluated_bits);
    Send(e);
  }
  void OnDistance(const DatasetDistanceRow& row) override {
    v1::JobEvent e;
    v1::DatasetDistance* d = e.mutable_distance();
    d->set_source_dataset(row.source_dataset);
    d->set_target_dataset(row.target_dataset);
    d->set_distance(row.distance);
    d->set_source_examples(row.source_examples);
    d->set_target_examples(row.target_examples);
    d->set_epsilon(row.epsilon);
    d->set_converged(row.converged);
    Send(e);
  }
  void OnCheckpoint(const std::string& path) override {
    v1::JobEvent e;
    e.set_checkpoint(path);
    Send(e);
  }

  void OnAlive() override {
    const absl::Time now = absl::Now();
    // Once per training step (and per evaluation batch, after the last progress).
    if (alive_calls_++ == 0) first_alive_ = now;
    if (now - last_touch_ < kAliveTouchInterval) return;
    Touch(now);
  }

  // Throughput from the event times (the engine reports no timings). Training: the
  // steps after the first (OnAlive comes once per step) × the global batch, over the
  // time from the end of the first step to the last progress report, so loading the
  // model and data is left out. Evaluation: every image evaluated (counted and skipped
  // ones) over the time from the last progress report (the run's start, for a job that
  // trains nothing) to the last result, which includes saving the weights and opening
  // each eval dataset. 0 when not measurable.
  void Throughput(absl::Time run_start, int batch_size, v1::ReproRecord* out) const {
    const double train_s = absl::ToDoubleSeconds(last_progress_ - first_alive_);
    if (progress_reports_ > 0 && alive_at_last_progress_ >= 2 && train_s > 0) {
      out->set_train_images_per_second(static_cast<double>(alive_at_last_progress_ - 1) *
                                       batch_size / train_s);
    }
    const absl::Time eval_start = progress_reports_ > 0 ? last_progress_ : run_start;
    const double eval_s = absl::ToDoubleSeconds(last_result_ - eval_start);
    if (eval_images_ > 0 && eval_s > 0) {
      out->set_eval_images_per_second(static_cast<double>(eval_images_) / eval_s);
    }
  }

  void Send(const v1::JobEvent& e) {
    Touch(absl::Now());
    if (link_ == nullptr) return;
    absl::Status s = link_->Send(e);
    if (s.ok()) return;
    // The agent is gone (or the link broke): nobody can use what this rank computes.
    RIB_LOG(ERROR) << "job " << job_ << ": cannot report to the agent: " << s
                   << "; stopping";
    std::_Exit(1);
  }

 private:
  void Touch(absl::Time now) {
    last_touch_ = now;
    protocol::TouchHeartbeat(heartbeat_file_).IgnoreError();
  }

  const std::string heartbeat_file_;
  protocol::RankLinkWriter* const link_;
  const std::string job_;
  absl::Time last_touch_ = absl::InfinitePast();
  int64_t progress_reports_ = 0;
  int64_t alive_calls_ = 0, alive_at_last_progress_ = 0;
  absl::Time first_alive_, last_progress_, last_result_;
  int64_t eval_images_ = 0;
};

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

// The CPU's model name from /proc/cpuinfo ("" when it has none).
std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) break;
    size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

// What built and runs this attempt (issue 17 item 8); rank 0's view of every rank's
// device (all ranks of an attempt run on one node).
v1::ReproRecord BuildRepro(const protocol::JobFile& job, int world_size) {
  v1::ReproRecord r;
  const BuildInfo build = CurrentBuildInfo();
  r.set_rib_version(build.version);
  r.set_rib_commit(build.git_commit);
  r.set_torch_version(TORCH_VERSION);
#if defined(RIB_WITH_CUDA) && defined(CUDA_VERSION)
  r.set_cuda_version(absl::StrCat(CUDA_VERSION / 1000, ".", (CUDA_VERSION % 1000) / 10));
#endif
  const std::string cpu = CpuModel();
  for (int rank = 0; rank < world_size; ++rank) {
    const int id = job.device_ids[rank];
    if (job.device_kind == "cuda") {
#if defined(RIB_WITH_CUDA)
      r.add_devices(absl::StrCat("cuda:", id, " ", at::cuda::getDeviceProperties(id)->name));
#else
      r.add_devices(absl::StrCat("cuda:", id));
#endif
    } else {
      r.add_devices(cpu.empty() ? std::string("cpu") : absl::StrCat("cpu: ", cpu));
    }
  }
  r.set_host(HostName());
  r.set_threads(job.threads);
  r.set_intra_op_threads(torch::get_num_threads());
  r.set_inter_op_threads(torch::get_num_interop_threads());
  r.set_blas_core(engine::BlasCoreName());
  r.set_world_size(world_size);
  return r;
}

// The rank link, when the agent gave this rank one (RIB_AGENT_FD).
std::unique_ptr<protocol::RankLinkWriter> OpenLink(
    const std::map<std::string, std::string>& env) {
  auto it = env.find(protocol::kAgentFdEnv);
  int fd = -1;
  if (it == env.end() || !absl::SimpleAtoi(it->second, &fd) || fd < 0) return nullptr;
  return std::make_unique<protocol::RankLinkWriter>(protocol::UniqueFd(fd));
}

std::string AttemptCheckpointDir(const std::string& job_dir, int attempt) {
  std::string dir = job_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return absl::StrCat(dir, "/attempt-", attempt);
}

int FailureExitCode(const absl::Status& s) {
  return absl::IsUnavailable(s) ? protocol::kPeerLostExitCode : 1;
}

}  // namespace

int RunRank(const std::string& job_file, const std::map<std::string, std::string>& env) {
  InstallStopHandler();
  absl::StatusOr<dist::RendezvousOptions> rendezvous = dist::RendezvousOptionsFromEnv(env);
  if (!rendezvous.ok()) {
    RIB_LOG(ERROR) << "rib-rank: " << rendezvous.status();
    return protocol::kBadJobExitCode;
  }
  const int rank = rendezvous->rank;
  SetLogTag(absl::StrCat("rank", rank));
  absl::StatusOr<protocol::JobFile> job = protocol::ReadJobFile(job_file);
  if (!job.ok()) {
    RIB_LOG(ERROR) << job.status();
    return protocol::kBadJobExitCode;
  }
  if (rank >= static_cast<int>(job->device_ids.size())) {
    RIB_LOG(ERROR) << "rank " << rank << " but only " << job->device_ids.size()
                   << " devices in " << job_file;
    return protocol::kBadJobExitCode;
  }
  v1::JobSpec proto;
  if (!proto.ParseFromString(job->spec_proto)) {
    RIB_LOG(ERROR) << "job file " << job_file << ": the spec does not parse";
    return protocol::kBadJobExitCode;
  }
  absl::StatusOr<JobSpec> spec = convert::JobSpecFromProto(proto);
  if (!spec.ok()) {
    RIB_LOG(ERROR) << spec.status();
    return protocol::kBadJobExitCode;
  }
  // DESIGN §3: LibTorch's default is one thread per physical core of the machine; a
  // slot gets its share, set explicitly.
  torch::set_num_threads(std::max(1, job->threads));
  const auto heartbeat = env.find(protocol::kHeartbeatFileEnv);
  const std::string heartbeat_file = heartbeat == env.end() ? "" : heartbeat->second;
  protocol::TouchHeartbeat(heartbeat_file).IgnoreError();
  std::unique_ptr<protocol::RankLinkWriter> link = rank == 0 ? OpenLink(env) : nullptr;
  RankSink sink(heartbeat_file, link.get(), job->job_id);

  const bool cuda = job->device_kind == "cuda";
  std::unique_ptr<dist::ProcessGroup> group;
  if (rendezvous->world_size == 1) {
    group = dist::CreateSingleProcessGroup();
  } else {
    rendezvous->backend = cuda ? "nccl" : "gloo";
    if (cuda) rendezvous->cuda_device = job->device_ids[rank];
    absl::StatusOr<std::unique_ptr<dist::ProcessGroup>> pg =
        dist::CreateProcessGroup(*rendezvous);
    if (!pg.ok()) {
      RIB_LOG(ERROR) << "rendezvous failed: " << pg.status();
      return FailureExitCode(pg.status());
    }
    group = *std::move(pg);
  }
  if (rank == 0) {
    v1::JobEvent started;
    started.set_started(true);
    sink.Send(started);
  }
  const std::string device =
      cuda ? absl::StrCat("cuda:", job->device_ids[rank]) : std::string("cpu");
  RIB_LOG(INFO) << "job " << job->job_id << " attempt " << job->attempt << ": rank "
                << rank << "/" << rendezvous->world_size << " on " << device << ", "
                << job->threads << " thread(s)";

  engine::RunOptions options;
  options.data_root = job->data_root;
  options.artifact_root = job->artifact_root;
  options.device = device;
  options.threads = job->threads;
  options.group = group.get();
  options.resume_checkpoint = job->resume_checkpoint;
  // Each attempt writes its own folder: an attempt the coordinator gave up on (lost
  // contact) may still be running beside the next one, and must not overwrite or
  // remove its checkpoints. The resume checkpoint is the previous attempt's.
  if (!job->checkpoint_dir.empty()) {
    options.checkpoint_dir = AttemptCheckpointDir(job->checkpoint_dir, job->attempt);
  }
  // Named by the coordinator's job hash (spec/artifacts.h), where dependents look.
  options.weights_out = job->weights_out;
  options.extra_weights_out = job->extra_weights_out;
  options.dependency_weights = job->dependency_weights;
  options.eval_cache_root = job->eval_cache_root;
  options.eval_cache_max_bytes = job->eval_cache_max_bytes;
  options.stop = &g_stop;
  const absl::Time run_start = absl::Now();
  absl::StatusOr<engine::RunResult> result = engine::RunJob(*spec, options, &sink);
  const absl::Time run_end = absl::Now();

  if (result.ok() && result->stopped) {
    RIB_LOG(INFO) << "job " << job->job_id << " attempt " << job->attempt
                  << ": stopped on request"
                  << (result->checkpoint.empty()
                          ? std::string(" (no checkpoint folder: nothing saved)")
                          : absl::StrCat(", checkpoint ", result->checkpoint));
    return protocol::kDrainedExitCode;
  }
  if (!result.ok()) {
    RIB_LOG(ERROR) << "job " << job->job_id << " attempt " << job->attempt
                   << " failed: " << result.status();
  }
  if (rank == 0) {
    v1::JobEvent finished;
    v1::JobFinished* f = finished.mutable_finished();
    if (result.ok()) {
      f->set_ok(true);
      f->set_weights(result->weights_path);
    } else {
      f->set_ok(false);
      f->set_error(std::string(result.status().message()));
      // The coordinator decides from the code whether this runs again
      // (server/scheduling/retry_policy.h): a deterministic error fails the job once.
      f->set_code(static_cast<int>(result.status().code()));
    }
    v1::ReproRecord* repro = f->mutable_repro();
    *repro = BuildRepro(*job, rendezvous->world_size);
    repro->set_wall_seconds(absl::ToDoubleSeconds(run_end - run_start));
    sink.Throughput(run_start, spec->training.batch_size, repro);
    sink.Send(finished);
  }
  return result.ok() ? 0 : FailureExitCode(result.status());
}

}  // namespace rib::rank
