#include "worker/agent/rank_executor.h"

#include <signal.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/status_macros.h"
#include "spec/artifacts.h"
#include "worker/agent/launcher.h"
#include "worker/protocol/job_file.h"
#include "worker/protocol/rank_env.h"
#include "worker/protocol/rank_link.h"

namespace rib::agent {
namespace fs = std::filesystem;
namespace {

absl::Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

// Path relative to the artifact root, as the coordinator records it.
std::string Relative(const std::string& root, const std::string& path) {
  if (path.empty()) return path;
  fs::path rel = fs::path(path).lexically_relative(root);
  if (rel.empty() || absl::StartsWith(rel.string(), "..")) return path;
  return rel.string();
}

// How long the forwarder waits on the link before it looks whether the ranks are gone.
constexpr absl::Duration kLinkPoll = absl::Milliseconds(200);
// How often the rank logs of a running attempt are uploaded (`rib logs -f` lags by it).
constexpr absl::Duration kLogUploadInterval = absl::Seconds(1);

class RankJob : public RunningJob {
 public:
  RankJob(std::unique_ptr<RankGroup> group, protocol::RankLinkReader link,
          std::shared_ptr<EventStream> events, std::shared_ptr<LogUploader> logs,
          std::string job, std::string root, std::string checkpoint_dir)
      : group_(std::move(group)),
        link_(std::move(link)),
        events_(std::move(events)),
        logs_(std::move(logs)),
        job_(std::move(job)),
        root_(std::move(root)),
        checkpoint_dir_(std::move(checkpoint_dir)) {
    forwarder_ = std::thread([this] { Forward(); });
    if (logs_ != nullptr) uploader_ = std::thread([this] { UploadLogs(); });
  }
  ~RankJob() override {
    group_->Kill();
    ranks_done_.store(true);
    if (forwarder_.joinable()) forwarder_.join();
    if (uploader_.joinable()) uploader_.join();
  }

  JobOutcome Wait() override {
    JobOutcome outcome;
    outcome.status = group_->Wait();
    ranks_done_.store(true);
    forwarder_.join();
    // The logs' tail is uploaded before the agent reports a failure of the ranks.
    if (uploader_.joinable()) uploader_.join();
    // Drained: the ranks stopped on SIGTERM. Each exited 75 after the checkpoint (or 0,
    // its part already done), or died of the SIGTERM itself: one still starting up (its
    // handler not yet installed) when the drain came, or one the launcher stopped after
    // a peer had exited 75. Any other exit is a failure.
    // A SIGTERM death alone is not a drain: the launcher also SIGTERMs hung ranks.
    int drained = 0, terminated = 0;
    bool clean = true;
    for (const RankExit& e : group_->exits()) {
      if (e.exited && e.exit_code == protocol::kDrainedExitCode) {
        ++drained;
      } else if (e.signaled && e.term_signal == SIGTERM) {
        ++terminated;
      } else if (!e.exited || e.exit_code != 0) {
        clean = false;
      }
    }
    outcome.drained = clean && !killed_.load() &&
                      (drained > 0 || (drain_requested_.load() && terminated > 0));
    if (outcome.drained) outcome.status = absl::OkStatus();
    absl::MutexLock lock(&mu_);
    outcome.finished_reported = answered_;
    if (!forward_error_.ok()) outcome.status = forward_error_;
    return outcome;
  }

  void Kill() override {
    killed_.store(true);
    group_->Kill();
  }

  bool Finishing() const override { return finishing_.load(); }

  void Drain() override {
    if (drain_requested_.exchange(true)) return;
    RIB_LOG(INFO) << "asking the ranks of job " << job_ << " to checkpoint and stop";
    // Each rank leads its own process group: SIGTERM reaches the rank (and its helpers).
    for (pid_t pid : group_->pids()) ::kill(-pid, SIGTERM);
  }

 private:
  // Runs on forwarder_: rank 0's events, from the link to the coordinator.
  void Forward() {
    bool finished = false, succeeded = false;
    v1::JobEvent event;
    while (true) {
      event.Clear();
      absl::StatusOr<protocol::RankLinkReader::Read> read = link_.Next(&event, kLinkPoll);
      if (!read.ok()) {
        Stop(Annotate(read.status(), absl::StrCat("job ", job_, ": rank link")));
        break;
      }
      if (*read == protocol::RankLinkReader::Read::kEnd) break;
      if (*read == protocol::RankLinkReader::Read::kTimeout) {
        if (ranks_done_.load()) break;
        continue;
      }
      if (event.has_checkpoint()) event.set_checkpoint(Relative(root_, event.checkpoint()));
      if (event.has_finished()) {
        finished = true;
        finishing_.store(true);
        succeeded = event.finished().ok();
        if (succeeded && !event.finished().weights().empty()) {
          absl::StatusOr<std::string> digest = Sha256File(event.finished().weights());
          if (digest.ok()) {
            event.mutable_finished()->set_weights_digest(*digest);
          } else {
            RIB_LOG(WARNING) << "job " << job_ << ": no digest of its weights: "
                             << digest.status();
          }
        }
        event.mutable_finished()->set_weights(
            Relative(root_, event.finished().weights()));
      }
      if (absl::Status s = events_->Send(event); !s.ok()) {
        StreamFailed(s);
        return;
      }
    }
    // The coordinator's answer says whether it recorded the events (the checkpoint a
    // drained attempt resumes from, the `finished` of a completed one).
    absl::Status closed = events_->Close();
    if (!closed.ok()) {
      StreamFailed(closed);
      return;
    }
    if (finished) {
      absl::MutexLock lock(&mu_);
      answered_ = true;
    }
    // The coordinator recorded the success: the job's checkpoints (every attempt's)
    // will never be resumed from. An attempt that still runs beside this one (it lost
    // its lease) is fenced, so losing its folder costs nothing.
    if (succeeded && !checkpoint_dir_.empty()) {
      std::error_code ec;
      fs::remove_all(checkpoint_dir_, ec);
      if (ec) {
        RIB_LOG(WARNING) << "job " << job_ << ": cannot remove its checkpoints "
                         << checkpoint_dir_ << ": " << ec.message();
      }
    }
  }

  // Runs on uploader_: the ranks' stderr logs to the coordinator, every
  // kLogUploadInterval while they run, then once more for the tail.
  void UploadLogs() {
    std::vector<std::string> paths;
    for (int r = 0; r < static_cast<int>(group_->pids().size()); ++r) {
      paths.push_back(group_->StderrPath(r));
    }
    std::string last_error;
    while (true) {
      const bool last = ranks_done_.load();
      absl::Status s = logs_->Poll(paths);
      // One line per new kind of failure: a coordinator that is away is not news
      // every second.
      if (!s.ok() && std::string(s.message()) != last_error) {
        last_error = std::string(s.message());
        RIB_LOG(WARNING) << "job " << job_ << ": " << s;
      }
      if (last) return;
      for (absl::Duration waited; waited < kLogUploadInterval && !ranks_done_.load();
           waited += kLinkPoll) {
        absl::SleepFor(kLinkPoll);
      }
    }
  }

  // The report stream failed: the attempt's work can no longer be recorded, so the
  // ranks stop now.
  void StreamFailed(const absl::Status& s) {
    absl::MutexLock lock(&mu_);
    if (absl::IsUnavailable(s)) {
      RIB_LOG(ERROR) << "job " << job_ << ": " << s << "; killing its ranks";
      forward_error_ = s;
    } else {
      // Stale or unknown: another attempt owns the job; nothing more is reported.
      RIB_LOG(WARNING) << "job " << job_ << " was fenced out (" << s
                       << "); killing its ranks";
      answered_ = true;
    }
    group_->Kill();
  }

  void Stop(const absl::Status& s) {
    RIB_LOG(ERROR) << s << "; killing the ranks";
    absl::MutexLock lock(&mu_);
    forward_error_ = s;
    group_->Kill();
  }

  const std::unique_ptr<RankGroup> group_;
  protocol::RankLinkReader link_;  // used by forwarder_ only
  const std::shared_ptr<EventStream> events_;
  const std::shared_ptr<LogUploader> logs_;  // nullptr: no upload
  const std::string job_;
  const std::string root_;
  const std::string checkpoint_dir_;  // <root>/checkpoints/<hash>: removed after a success
  std::atomic<bool> drain_requested_{false};
  std::atomic<bool> killed_{false};  // Kill(): SIGKILL, never a drain
  std::atomic<bool> ranks_done_{false};
  std::atomic<bool> finishing_{false};  // rank 0's `finished` went to the stream
  absl::Mutex mu_;
  bool answered_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status forward_error_ ABSL_GUARDED_BY(mu_);
  std::thread forwarder_;
  std::thread uploader_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RankExecutor>> RankExecutor::Create(
    RankExecutorOptions options) {
  if (options.binary.empty() || options.data_root.empty() ||
      options.artifact_root.empty()) {
    return absl::InvalidArgumentError(
        "rank executor: binary, data_root and artifact_root are required");
  }
  if (options.threads_per_slot < 1) options.threads_per_slot = 1;
  options.artifact_root = fs::absolute(options.artifact_root).lexically_normal().string();
  options.data_root = fs::absolute(options.data_root).lexically_normal().string();
  if (options.run_dir.empty()) options.run_dir = spec::RunsDir(options.artifact_root);
  return std::unique_ptr<RankExecutor>(new RankExecutor(std::move(options)));
}

absl::StatusOr<std::unique_ptr<RunningJob>> RankExecutor::Start(const JobAssignment& job) {
  RIB_RETURN_IF_ERROR(ValidateName(job.job_id, "job id"));
  RIB_RETURN_IF_ERROR(ValidateName(job.hash, "job hash"));
  if (job.device_ids.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("job ", job.job_id, ": no devices"));
  }
  if (job.events == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("job ", job.job_id, ": no report stream"));
  }
  const std::string& root = options_.artifact_root;
  protocol::JobFile file;
  file.job_id = job.job_id;
  file.attempt = job.attempt;
  file.hash = job.hash;
  file.spec_proto = job.spec_proto;
  file.data_root = options_.data_root;
  file.artifact_root = root;
  if (!job.resume_checkpoint.empty()) {
    RIB_ASSIGN_OR_RETURN(file.resume_checkpoint,
                         ResolveUnder(root, job.resume_checkpoint, "resume checkpoint"));
  }
  const spec::JobOutputs outputs = spec::JobOutputPaths(root, job.hash);
  file.checkpoint_dir = outputs.checkpoint_dir;
  file.weights_out = outputs.weights;
  file.extra_weights_out = outputs.extra_weights;
  for (const auto& [method, hash] : job.spec.dependency_hashes) {
    RIB_RETURN_IF_ERROR(ValidateName(hash, "dependency hash"));
    std::string path = spec::WeightsPath(root, hash);
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "job ", job.job_id, ": the weights of dependency '", method, "' (", path,
          ") are missing from the artifact root"));
    }
    file.dependency_weights[method] = path;
  }
  const std::string run_dir = spec::AttemptDir(options_.run_dir, job.job_id, job.attempt);
  file.device_kind = job.device_kind;
  file.device_ids = job.device_ids;
  file.threads = options_.threads_per_slot;
  file.log_level = options_.log_level;
  file.eval_cache_root = options_.eval_cache_root;
  file.eval_cache_max_bytes = options_.eval_cache_max_bytes;

  RIB_RETURN_IF_ERROR(MakeDirs(run_dir));
  RIB_RETURN_IF_ERROR(MakeDirs(file.checkpoint_dir));
  RIB_RETURN_IF_ERROR(MakeDirs(spec::WeightsDir(root)));
  const std::string job_file = run_dir + "/job.txt";
  RIB_RETURN_IF_ERROR(protocol::WriteJobFile(file, job_file));
  RIB_ASSIGN_OR_RETURN(protocol::RankLinkPair link, protocol::CreateRankLink());

  RankLaunchOptions launch;
  launch.argv = {options_.binary, "--job-file", job_file, "--log-level",
                 options_.log_level, "--log-format", options_.log_format};
  launch.world_size = static_cast<int>(job.device_ids.size());
  launch.env["OMP_NUM_THREADS"] = absl::StrCat(options_.threads_per_slot);
  launch.hang_timeout = options_.hang_timeout;
  launch.kill_grace = options_.kill_grace;
  launch.log_dir = run_dir;
  launch.rank_link_fds = {link.rank_end.get()};  // rank 0 reports
  RIB_ASSIGN_OR_RETURN(std::unique_ptr<RankGroup> group,
                       RankGroup::Start(std::move(launch)));
  // Rank 0 holds its end now; the link ends when rank 0 does.
  link.rank_end.Reset();
  RIB_LOG(INFO) << "job " << job.job_id << " attempt " << job.attempt << ": started "
                << job.device_ids.size() << " rank(s), logs in " << run_dir;
  return std::unique_ptr<RunningJob>(
      new RankJob(std::move(group), protocol::RankLinkReader(std::move(link.agent_end)),
                  job.events, job.logs, job.job_id, root, file.checkpoint_dir));
}

}  // namespace rib::agent
