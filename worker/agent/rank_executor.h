// The real JobExecutor: runs a leased job as N rank processes (the rib-worker binary in
// rank mode, one per device slot) through worker/dist's RankGroup.
//
// Per attempt it creates <run_dir>/<job id>/attempt-<n>/ holding the job file and the
// ranks' logs, and resolves the job's artifact paths:
//   final weights   <artifact_root>/weights/<job hash>.safetensors
//   checkpoints     <artifact_root>/checkpoints/<job hash>/
//   dependencies    <artifact_root>/weights/<dependency hash>.safetensors
#ifndef RIB_WORKER_AGENT_RANK_EXECUTOR_H_
#define RIB_WORKER_AGENT_RANK_EXECUTOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/agent/job_executor.h"

namespace rib::agent {

// Exit code of a rank that stopped on SIGTERM after checkpointing (EX_TEMPFAIL).
inline constexpr int kDrainedExitCode = 75;
// Name of the marker rank 0 writes once the coordinator answered its `finished` event.
inline constexpr char kFinishedMarker[] = "finished_reported";

struct RankExecutorOptions {
  // The rib-worker binary started in rank mode (normally this process's own
  // executable). Required.
  std::string binary;
  std::string coordinator;    // HOST:PORT, passed to rank 0. Required.
  std::string data_root;      // Required.
  std::string artifact_root;  // Required.
  // Folder for job files and rank logs. Default "" = <artifact_root>/runs.
  std::string run_dir;
  // Intra-op threads of each rank (DESIGN §3: set explicitly). Default 1.
  int threads_per_slot = 1;
  std::string log_level = "info";
  // A rank that shows no progress (heartbeat file untouched) this long is hung: the
  // attempt fails. Default 30 min: longer than any evaluation pass between two events.
  absl::Duration hang_timeout = absl::Minutes(30);
  // SIGTERM → SIGKILL grace when ranks are killed. Default 5 s.
  absl::Duration kill_grace = absl::Seconds(5);
};

// Thread-safe.
class RankExecutor : public JobExecutor {
 public:
  // INVALID_ARGUMENT when a required option is missing.
  static absl::StatusOr<std::unique_ptr<RankExecutor>> Create(RankExecutorOptions options);

  // Errors: INVALID_ARGUMENT (job id or hash not usable as a path component),
  // FAILED_PRECONDITION (a dependency's weights are missing), INTERNAL (folders,
  // job file, fork), and RankGroup::Start's errors.
  absl::StatusOr<std::unique_ptr<RunningJob>> Start(const JobAssignment& job) override;

  const RankExecutorOptions& options() const { return options_; }

 private:
  explicit RankExecutor(RankExecutorOptions options) : options_(std::move(options)) {}
  const RankExecutorOptions options_;
};

}  // namespace rib::agent

#endif  // RIB_WORKER_AGENT_RANK_EXECUTOR_H_
