#include "worker/agent/rank_main.h"

#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "grpcpp/grpcpp.h"
#include "proto/convert/job_spec_convert.h"
#include "worker/agent/event_stream.h"
#include "worker/agent/job_file.h"
#include "worker/dist/launcher.h"
#include "worker/dist/process_group.h"
#include "worker/engine/events.h"
#include "worker/engine/runner.h"

namespace rib::agent {
namespace {

namespace fs = std::filesystem;

// Path relative to the artifact root, as the coordinator records it.
std::string Relative(const std::string& root, const std::string& path) {
  std::error_code ec;
  fs::path rel = fs::path(path).lexically_relative(root);
  if (rel.empty() || absl::StartsWith(rel.string(), "..")) return path;
  return rel.string();
}

void WriteMarker(const std::string& path) {
  if (path.empty()) return;
  std::ofstream(path) << "1\n";
}

// Touches the rank's heartbeat file on every event, so the launcher's hang detection
// sees progress; rank 0 also forwards every event to the coordinator.
class RankSink : public engine::EventSink {
 public:
  RankSink(std::string heartbeat_file, EventStream* stream, const JobFile* job)
      : heartbeat_file_(std::move(heartbeat_file)), stream_(stream), job_(job) {}

  void OnProgress(int epoch, int epochs, int64_t step, int64_t steps, double loss,
                  double lr) override {
    Touch();
    if (stream_ == nullptr) return;
    v1::JobEvent e;
    v1::JobProgress* p = e.mutable_progress();
    p->set_epoch(epoch);
    p->set_epochs(epochs);
    p->set_step(step);
    p->set_steps(steps);
    p->set_loss(loss);
    p->set_lr(lr);
    Send(std::move(e));
  }
  void OnResult(const std::string& dataset, const std::string& subset, int64_t correct,
                int64_t total, int64_t skipped) override {
    Touch();
    if (stream_ == nullptr) return;
    v1::JobEvent e;
    v1::Accuracy* a = e.mutable_result();
    a->set_dataset(dataset);
    a->set_subset(subset);
    a->set_correct(correct);
    a->set_total(total);
    a->set_skipped(skipped);
    Send(std::move(e));
  }
  void OnCheckpoint(const std::string& path) override {
    Touch();
    if (stream_ == nullptr) return;
    v1::JobEvent e;
    e.set_checkpoint(Relative(job_->artifact_root, path));
    Send(std::move(e));
  }

  void Send(v1::JobEvent e) {
    absl::Status s = stream_->Send(std::move(e));
    if (s.ok()) return;
    // Another attempt owns the job (or the coordinator is gone for good): stop
    // computing now. The marker tells the agent there is nothing left to report.
    if (s.code() == absl::StatusCode::kUnavailable) {
      RIB_LOG(ERROR) << "job " << job_->job_id << ": " << s << "; stopping";
      std::_Exit(kUnreachableExitCode);
    }
    RIB_LOG(WARNING) << "job " << job_->job_id << " attempt " << job_->attempt
                     << " was fenced out (" << s << "); stopping";
    WriteMarker(job_->finished_marker);
    std::_Exit(kFencedExitCode);
  }

 private:
  void Touch() { dist::TouchHeartbeat(heartbeat_file_).IgnoreError(); }

  const std::string heartbeat_file_;
  EventStream* const stream_;
  const JobFile* const job_;
};

}  // namespace

int RunRankMode(const std::string& job_file) {
  const std::map<std::string, std::string> env = dist::ProcessEnvironment();
  absl::StatusOr<dist::RendezvousOptions> rendezvous = dist::RendezvousOptionsFromEnv(env);
  if (!rendezvous.ok()) {
    std::fprintf(stderr, "rank mode: %s\n", rendezvous.status().ToString().c_str());
    return 2;
  }
  const int rank = rendezvous->rank;
  SetLogTag(absl::StrCat("rank", rank));
  absl::StatusOr<JobFile> job = ReadJobFile(job_file);
  if (!job.ok()) {
    RIB_LOG(ERROR) << job.status();
    return 2;
  }
  if (rank >= static_cast<int>(job->device_ids.size())) {
    RIB_LOG(ERROR) << "rank " << rank << " but only " << job->device_ids.size()
                   << " devices in " << job_file;
    return 2;
  }
  v1::JobSpec proto;
  if (!proto.ParseFromString(job->spec_proto)) {
    RIB_LOG(ERROR) << "job file " << job_file << ": the spec does not parse";
    return 2;
  }
  absl::StatusOr<JobSpec> spec = convert::JobSpecFromProto(proto);
  if (!spec.ok()) {
    RIB_LOG(ERROR) << spec.status();
    return 2;
  }
  // DESIGN §3: LibTorch's default is one thread per physical core of the machine; a
  // slot gets its share, set explicitly.
  torch::set_num_threads(std::max(1, job->threads));
  const auto heartbeat = env.find(dist::kHeartbeatFileEnv);
  const std::string heartbeat_file = heartbeat == env.end() ? "" : heartbeat->second;
  dist::TouchHeartbeat(heartbeat_file).IgnoreError();

  // Rank 0 opens the attempt's report stream before the (possibly slow) rendezvous so
  // that a fenced-out attempt stops early.
  std::unique_ptr<EventStream> stream;
  if (rank == 0) {
    auto channel =
        grpc::CreateChannel(job->coordinator, grpc::InsecureChannelCredentials());
    stream = std::make_unique<EventStream>(channel, job->job_id, job->attempt);
  }
  RankSink sink(heartbeat_file, stream.get(), &*job);

  std::unique_ptr<dist::ProcessGroup> group;
  if (rendezvous->world_size == 1) {
    group = dist::CreateSingleProcessGroup();
  } else {
    rendezvous->backend = job->device_kind == "cuda" ? "nccl" : "gloo";
    if (job->device_kind == "cuda") rendezvous->cuda_device = job->device_ids[rank];
    absl::StatusOr<std::unique_ptr<dist::ProcessGroup>> pg =
        dist::CreateProcessGroup(*rendezvous);
    if (!pg.ok()) {
      RIB_LOG(ERROR) << "rendezvous failed: " << pg.status();
      return 1;
    }
    group = *std::move(pg);
  }
  if (rank == 0) {
    v1::JobEvent started;
    started.set_started(true);
    sink.Send(std::move(started));
  }
  RIB_LOG(INFO) << "job " << job->job_id << " attempt " << job->attempt << ": rank "
                << rank << "/" << rendezvous->world_size << " on "
                << (job->device_kind == "cuda"
                        ? absl::StrCat("cuda:", job->device_ids[rank])
                        : std::string("cpu"))
                << ", " << job->threads << " thread(s)";

  engine::RunOptions options;
  options.data_root = job->data_root;
  options.artifact_root = job->artifact_root;
  options.device = job->device_kind == "cuda"
                       ? absl::StrCat("cuda:", job->device_ids[rank])
                       : std::string("cpu");
  options.threads = job->threads;
  options.group = group.get();
  options.resume_checkpoint = job->resume_checkpoint;
  options.checkpoint_dir = job->checkpoint_dir;
  // Named by the coordinator's job hash (RankExecutor), where dependents look.
  options.weights_out = job->weights_out;
  options.extra_weights_out = job->extra_weights_out;
  options.dependency_weights = job->dependency_weights;
  absl::StatusOr<engine::RunResult> result = engine::RunJob(*spec, options, &sink);

  if (rank != 0) {
    if (!result.ok()) RIB_LOG(ERROR) << "job " << job->job_id << ": " << result.status();
    return result.ok() ? 0 : 1;
  }
  v1::JobEvent finished;
  v1::JobFinished* f = finished.mutable_finished();
  if (result.ok()) {
    f->set_ok(true);
    f->set_weights(Relative(job->artifact_root, result->weights_path));
  } else {
    RIB_LOG(ERROR) << "job " << job->job_id << " attempt " << job->attempt
                   << " failed: " << result.status();
    f->set_ok(false);
    f->set_error(std::string(result.status().message()));
    // The coordinator decides from the code whether this runs again
    // (server/scheduling/retry_policy.h): a deterministic error fails the job once.
    f->set_code(static_cast<int>(result.status().code()));
  }
  sink.Send(std::move(finished));
  absl::Status closed = stream->Close();
  if (closed.ok() || closed.code() != absl::StatusCode::kUnavailable) {
    // Answered (accepted, or rejected as stale): the agent must not report again.
    WriteMarker(job->finished_marker);
  }
  if (!closed.ok()) {
    RIB_LOG(ERROR) << "the coordinator did not accept the end of job " << job->job_id
                   << ": " << closed;
    return closed.code() == absl::StatusCode::kUnavailable ? kUnreachableExitCode
                                                           : kFencedExitCode;
  }
  return 0;
}

}  // namespace rib::agent
