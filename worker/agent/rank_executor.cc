#include "worker/agent/rank_executor.h"

#include <signal.h>

#include <atomic>
#include <filesystem>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/status_macros.h"
#include "spec/artifacts.h"
#include "worker/agent/job_file.h"
#include "worker/dist/launcher.h"

namespace rib::agent {
namespace fs = std::filesystem;
namespace {

absl::Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

class RankJob : public RunningJob {
 public:
  RankJob(std::unique_ptr<dist::RankGroup> group, std::string marker, std::string job)
      : group_(std::move(group)), marker_(std::move(marker)), job_(std::move(job)) {}

  JobOutcome Wait() override {
    JobOutcome outcome;
    outcome.status = group_->Wait();
    std::error_code ec;
    outcome.finished_reported = fs::exists(marker_, ec);
    if (drain_requested_.load()) {
      bool all_drained = true;
      for (const dist::RankExit& e : group_->exits()) {
        if (!e.exited || (e.exit_code != 0 && e.exit_code != kDrainedExitCode)) {
          all_drained = false;
        }
      }
      outcome.drained = all_drained;
    }
    return outcome;
  }

  void Kill() override { group_->Kill(); }

  void Drain() override {
    if (drain_requested_.exchange(true)) return;
    RIB_LOG(INFO) << "asking the ranks of job " << job_ << " to checkpoint and stop";
    // Each rank leads its own process group: SIGTERM reaches the rank (and its helpers).
    for (pid_t pid : group_->pids()) ::kill(-pid, SIGTERM);
  }

 private:
  const std::unique_ptr<dist::RankGroup> group_;
  const std::string marker_;
  const std::string job_;
  std::atomic<bool> drain_requested_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<RankExecutor>> RankExecutor::Create(
    RankExecutorOptions options) {
  if (options.binary.empty() || options.coordinator.empty() || options.data_root.empty() ||
      options.artifact_root.empty()) {
    return absl::InvalidArgumentError(
        "rank executor: binary, coordinator, data_root and artifact_root are required");
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
  const std::string& root = options_.artifact_root;
  JobFile file;
  file.coordinator = options_.coordinator;
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
  file.finished_marker = absl::StrCat(run_dir, "/", kFinishedMarker);
  file.device_kind = job.device_kind;
  file.device_ids = job.device_ids;
  file.threads = options_.threads_per_slot;
  file.log_level = options_.log_level;

  RIB_RETURN_IF_ERROR(MakeDirs(run_dir));
  RIB_RETURN_IF_ERROR(MakeDirs(file.checkpoint_dir));
  RIB_RETURN_IF_ERROR(MakeDirs(spec::WeightsDir(root)));
  std::error_code ec;
  fs::remove(file.finished_marker, ec);
  const std::string job_file = run_dir + "/job.txt";
  RIB_RETURN_IF_ERROR(WriteJobFile(file, job_file));

  dist::RankLaunchOptions launch;
  launch.argv = {options_.binary, "--rank-mode", "--job-file", job_file,
                 "--log-level", options_.log_level};
  launch.world_size = static_cast<int>(job.device_ids.size());
  launch.env["OMP_NUM_THREADS"] = absl::StrCat(options_.threads_per_slot);
  launch.hang_timeout = options_.hang_timeout;
  launch.kill_grace = options_.kill_grace;
  launch.log_dir = run_dir;
  RIB_ASSIGN_OR_RETURN(std::unique_ptr<dist::RankGroup> group,
                       dist::RankGroup::Start(std::move(launch)));
  RIB_LOG(INFO) << "job " << job.job_id << " attempt " << job.attempt << ": started "
                << job.device_ids.size() << " rank(s), logs in " << run_dir;
  return std::unique_ptr<RunningJob>(
      new RankJob(std::move(group), file.finished_marker, job.job_id));
}

}  // namespace rib::agent
