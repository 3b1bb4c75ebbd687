// The seam between the lease loop (Agent) and whatever runs a leased job: the real
// RankExecutor launches rank processes; tests use a fake.
#ifndef RIB_WORKER_AGENT_JOB_EXECUTOR_H_
#define RIB_WORKER_AGENT_JOB_EXECUTOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "spec/job_spec.h"
#include "worker/agent/event_stream.h"
#include "worker/agent/log_uploader.h"

namespace rib::agent {

// One leased attempt of one job, with the slots the agent reserved for it.
struct JobAssignment {
  std::string job_id;
  int attempt = 0;
  std::string hash;               // the job's configuration hash (names its artifacts)
  JobSpec spec;
  std::string spec_proto;         // the serialized rib.v1.JobSpec, as leased
  std::string resume_checkpoint;  // relative to the artifact root; "" = start fresh
  std::string device_kind;        // "cpu" or "cuda"
  std::vector<int> device_ids;    // one per rank; size == spec.devices
  // The attempt's report stream to the coordinator (it stamps job id and attempt),
  // opened by the agent: the executor forwards the job's events to it.
  std::shared_ptr<EventStream> events;
  // Uploads the ranks' logs while they run and their tail when they end; nullptr = none.
  std::shared_ptr<LogUploader> logs;
};

// How a job's processes ended.
struct JobOutcome {
  // The coordinator answered the attempt's `finished` event (ok or not), or rejected the
  // attempt (another attempt owns the job): the agent must not report again.
  bool finished_reported = false;
  // The ranks stopped on request (Drain(), or a SIGTERM from outside) after
  // checkpointing, where they could: the lease is given back, not failed.
  bool drained = false;
  // Why the job's processes failed: names the rank, its exit status and the tail of its
  // stderr. OK when they all exited cleanly.
  absl::Status status;
};

// A started job. Thread-safe: Kill() and Drain() may be called from any thread, also
// while another thread is blocked in Wait().
class RunningJob {
 public:
  virtual ~RunningJob() = default;
  // Blocks until every process of the job has exited. Called once.
  virtual JobOutcome Wait() = 0;
  // Kills every process now. Idempotent.
  virtual void Kill() = 0;
  // Asks the processes to finish their current step, checkpoint and exit. Idempotent.
  virtual void Drain() = 0;
  // The attempt's `finished` event has been handed to the coordinator: its ranks end on
  // their own, and a lease the coordinator drops from now on was ended by that report
  // (the job is done), not taken away. False until then.
  virtual bool Finishing() const { return false; }
};

// Thread-safe: the agent may start jobs from one thread while others run.
class JobExecutor {
 public:
  virtual ~JobExecutor() = default;
  // Starts the job's processes and returns without waiting for them. An error means
  // nothing is running (the agent reports the attempt failed and retryable).
  virtual absl::StatusOr<std::unique_ptr<RunningJob>> Start(const JobAssignment& job) = 0;
};

}  // namespace rib::agent

#endif  // RIB_WORKER_AGENT_JOB_EXECUTOR_H_
