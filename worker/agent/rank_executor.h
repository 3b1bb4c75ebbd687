// The real JobExecutor: runs a leased job as N rank processes (rib-rank, one per device
// slot) through the launcher's RankGroup, and forwards rank 0's events from the rank
// link (worker/protocol/rank_link.h) to the attempt's report stream. The agent is the
// only process that talks to the coordinator.
//
// Per attempt it creates <run_dir>/<job id>/attempt-<n>/ holding the job file and the
// ranks' logs, and resolves the job's artifact paths (spec/artifacts.h):
//   final weights   <artifact_root>/weights/<job hash>.safetensors
//   checkpoints     <artifact_root>/checkpoints/<job hash>/
//   dependencies    <artifact_root>/weights/<dependency hash>.safetensors
//
// Forwarding: events go out in order, with their paths made relative to the artifact
// root. When the coordinator rejects the attempt (stale or unknown: another attempt
// owns the job) the ranks are killed at once and nothing more is sent; when it stays
// unreachable past the stream's reconnect window they are killed too and the outcome
// carries that error. A malformed message on the link kills the ranks and fails the
// attempt with DATA_LOSS. After `finished`, the stream is closed and the answer decides
// JobOutcome::finished_reported.
#ifndef RIB_WORKER_AGENT_RANK_EXECUTOR_H_
#define RIB_WORKER_AGENT_RANK_EXECUTOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/agent/job_executor.h"

namespace rib::agent {

struct RankExecutorOptions {
  // The rank binary (rib-rank, normally beside rib-worker). Required.
  std::string binary;
  std::string data_root;      // Required.
  std::string artifact_root;  // Required.
  // Folder for job files and rank logs. Default "" = <artifact_root>/runs.
  std::string run_dir;
  // Intra-op threads of each rank (DESIGN §3: set explicitly). Default 1.
  int threads_per_slot = 1;
  std::string log_level = "info";
  std::string log_format = "text";  // --log-format of the rank processes
  // A rank that shows no progress (heartbeat file untouched) this long is hung: the
  // attempt fails. Default 30 min: longer than any evaluation pass between two events.
  absl::Duration hang_timeout = absl::Minutes(30);
  // SIGTERM → SIGKILL grace when a failed rank takes the others down. Default 5 s.
  absl::Duration kill_grace = absl::Seconds(5);
  // The node's evaluation cache, passed to every rank (worker/data/eval_cache.h): its
  // folder, "" = none; its size bound in bytes, 0 = that header's default. Default
  // none: rib-worker sets it (--cache-root).
  std::string eval_cache_root;
  int64_t eval_cache_max_bytes = 0;
};

// Thread-safe.
class RankExecutor : public JobExecutor {
 public:
  // INVALID_ARGUMENT when a required option is missing.
  static absl::StatusOr<std::unique_ptr<RankExecutor>> Create(RankExecutorOptions options);

  // Errors: INVALID_ARGUMENT (job id or hash not usable as a path component, no
  // devices, no report stream), FAILED_PRECONDITION (a dependency's weights are
  // missing), INTERNAL (folders, job file, rank link, fork), and RankGroup::Start's
  // errors.
  absl::StatusOr<std::unique_ptr<RunningJob>> Start(const JobAssignment& job) override;

  const RankExecutorOptions& options() const { return options_; }

 private:
  explicit RankExecutor(RankExecutorOptions options) : options_(std::move(options)) {}
  const RankExecutorOptions options_;
};

}  // namespace rib::agent

#endif  // RIB_WORKER_AGENT_RANK_EXECUTOR_H_
