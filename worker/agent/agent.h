// The worker's control loop (DESIGN §1, §8): registers with the coordinator, heartbeats
// to renew its leases, long-polls AcquireJob while it has free slots, starts each
// leased job through a JobExecutor and supervises it.
//
// Failure handling:
// * Heartbeat NOT_FOUND (the coordinator forgot this worker, e.g. declared it lost):
//   every running job is killed (its leases belong to someone else now) and the agent
//   registers anew.
// * A lease listed as revoked (cancelled, or reassigned) is killed at once; nothing is
//   reported for it.
// * The ranks' events reach the coordinator through the agent: rank 0 sends them over
//   its rank link and the executor forwards them to the attempt's stream, which the
//   agent opens (JobAssignment::events).
// * A job whose processes fail without a `finished` the coordinator answered is
//   reported finished{ok=false, code=UNAVAILABLE, error} by the agent (retried).
// * Ranks that stop on SIGTERM after checkpointing (exit code 75) are reported
//   finished{released=true}: the lease goes back, and the next attempt resumes.
// * UNAUTHENTICATED / PERMISSION_DENIED (no token, a revoked one, not role worker):
//   logged saying so, and retried after retry_backoff like an unreachable coordinator,
//   so a fixed token on the coordinator's side needs no worker restart.
// * Every event of an attempt carries the lease secret AcquireJob returned for it; the
//   ranks never see it (the agent's EventStream stamps it).
// * Self-fencing: a lease the agent could not renew for 3/4 of the lease timeout (the
//   coordinator's, from registration) is given up: its ranks are killed and nothing is
//   reported, before the coordinator hands the job out again, so two workers never
//   run one attempt's successor side by side (split brain). Heartbeats then carry a
//   deadline no later than the earliest such moment, and a failed heartbeat is tried
//   again after retry_backoff (not a whole interval), so leases are renewed as soon as
//   the coordinator answers again.
// * Drain() (SIGTERM, or the coordinator's drain flag): no new leases, running jobs are
//   asked to checkpoint and stop, each is reported finished{released=true, "worker
//   drained"} so its lease is released at once, and Run() returns.
#ifndef RIB_WORKER_AGENT_AGENT_H_
#define RIB_WORKER_AGENT_AGENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/histogram.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/tls/credentials.h"
#include "rib/v1/worker.grpc.pb.h"
#include "worker/agent/devices.h"
#include "worker/agent/job_executor.h"

namespace rib::agent {

struct AgentOptions {
  std::string coordinator;  // HOST:PORT of rib-coordinator (required)
  // TLS of the channel to the coordinator: the CA to trust (setting it switches to
  // TLS), an optional client certificate, an optional server-name override. Default:
  // plaintext (a coordinator on loopback, or one started with --insecure-listen).
  tls::ClientTlsOptions tls;
  // The worker's bearer token (role worker), sent on every call. Default "" (none: the
  // coordinator refuses every call with UNAUTHENTICATED, which the agent logs and
  // retries like an unreachable coordinator). Never logged.
  std::string token;
  std::string name;         // shown by `rib workers`; default: the host name
  DeviceSet devices;        // the slots; default one CPU slot
  std::vector<std::string> datasets;  // dataset keys under the data root (advertised)
  std::vector<std::string> labels;
  // Long-poll length of AcquireJob. Default 10 s: short enough that a free slot is
  // offered again soon after a coordinator restart, long enough to keep RPCs rare.
  absl::Duration acquire_wait = absl::Seconds(10);
  // Deadline of the unary RPCs (Register, Heartbeat). Default 10 s.
  absl::Duration rpc_timeout = absl::Seconds(10);
  // Heartbeat interval used until the coordinator gives one. Default 5 s.
  absl::Duration default_heartbeat_interval = absl::Seconds(5);
  // Pause after a failed RPC before the next try. Default 1 s.
  absl::Duration retry_backoff = absl::Seconds(1);
  // After Drain(), how long running jobs may take to checkpoint and exit before they
  // are killed. Default 120 s (one training step of a large model, plus a checkpoint).
  absl::Duration drain_timeout = absl::Seconds(120);
};

// Thread-safe. Run() is called once, on one thread; Drain(), Shutdown() and the
// accessors may be called from any thread.
class Agent {
 public:
  // `executor` must outlive the agent. Reads the TLS files and connects lazily: Create
  // fails only on bad options (INVALID_ARGUMENT) or a TLS file that cannot be read
  // (NOT_FOUND, naming it).
  static absl::StatusOr<std::unique_ptr<Agent>> Create(AgentOptions options,
                                                       JobExecutor* executor);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Registers and serves until Drain() has finished or Shutdown() was called. Returns
  // OK then.
  absl::Status Run();
  // Starts a drain (see above). Not async-signal-safe: call it from a normal thread.
  void Drain();
  // Kills every running job without reporting and makes Run() return (tests, fatal
  // errors).
  void Shutdown();

  // The id the coordinator gave on the latest registration ("" before the first).
  std::string worker_id() const;
  int registrations() const;
  int free_slots() const;
  int running_jobs() const;
  int total_slots() const;
  // How the attempts this agent started have ended, by kind: "reported" (rank 0
  // reported the end itself), "failed" (the agent reported a failure), "drained",
  // "revoked" (the lease was no longer ours; nothing reported), "fenced" (the agent
  // gave up a lease it could not renew). Every kind is present.
  std::map<std::string, int64_t> job_exits() const;
  // The wall time of those attempts, lease to end, as one histogram per kind of end
  // (rib_worker_job_duration_seconds{how}); kinds with no attempt yet are absent.
  std::map<std::string, prometheus::ClientMetric> job_durations() const;

  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

 private:
  struct Job {
    std::string job_id;
    int attempt = 0;
    std::string lease_secret;  // AcquireJobResponse.lease_secret
    std::vector<int> slots;
    std::unique_ptr<RunningJob> running;
    // Killed by the agent because the lease is no longer ours: report nothing.
    bool revoked = false;
    // Killed by the agent because it could not renew the lease in time (also revoked).
    bool fenced = false;
    // When the heartbeat that last renewed the lease was sent (or the lease acquired).
    absl::Time renewed_at;
    absl::Time leased_at;
    std::thread supervisor;
  };

  Agent(AgentOptions options, JobExecutor* executor,
        std::shared_ptr<grpc::Channel> channel);

  void HeartbeatLoop();
  absl::Status RegisterOnce();
  void HeartbeatOnce();
  void AcquireLoop();
  // Starts the leased job (or reports why it cannot run).
  void StartJob(const v1::AcquireJobResponse& lease, int64_t generation);
  void Supervise(uint64_t key);
  void KillAllLocked(absl::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // When the earliest running lease must be given up (InfiniteFuture when none).
  absl::Time EarliestFenceLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Kills (fences) every running job whose lease went unrenewed too long by `now`.
  void FenceLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reports the attempt's end without a result: `why`'s code and message; `released`
  // when the worker gives the lease back without the attempt having failed (it
  // drains, or cannot place the job). The coordinator decides what runs again
  // (server/scheduling/retry_policy.h).
  void ReportFailure(const AttemptLease& lease, const absl::Status& why,
                     bool released = false);
  // Deadline and bearer token of a unary call.
  void PrepareCall(grpc::ClientContext* ctx, absl::Duration deadline) const;
  // Logs a failed call: `what` and the status, and what to do when it was refused.
  void LogCallFailure(const std::string& what, const absl::Status& s) const;
  void ReapFinishedThreads();

  const AgentOptions options_;
  JobExecutor* const executor_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerApi::Stub> stub_;

  mutable absl::Mutex mu_;
  std::string worker_id_ ABSL_GUARDED_BY(mu_);
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_);
  // The coordinator's lease timeout (from registration; default 30 s until then).
  absl::Duration lease_timeout_ ABSL_GUARDED_BY(mu_) = absl::Seconds(30);
  absl::Time next_heartbeat_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Incremented on every successful registration; a job acquired under an older
  // generation belongs to a forgotten worker identity.
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool need_register_ ABSL_GUARDED_BY(mu_) = true;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_heartbeat_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<int> free_slots_ ABSL_GUARDED_BY(mu_);
  uint64_t next_key_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Job> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> finished_threads_ ABSL_GUARDED_BY(mu_);
  // Attempts whose ranks have ended and whose end is being reported: still held (an
  // AcquireJob lists them), so the coordinator does not take the report's lease for
  // one whose answer was lost.
  std::multiset<std::pair<std::string, int>> reporting_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> job_exits_ ABSL_GUARDED_BY(mu_) = {
      {"reported", 0}, {"failed", 0}, {"drained", 0}, {"revoked", 0}, {"fenced", 0}};
  std::map<std::string, prometheus::Histogram> job_durations_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* acquire_context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace rib::agent

#endif  // RIB_WORKER_AGENT_AGENT_H_
