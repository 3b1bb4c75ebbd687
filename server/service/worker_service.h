// What the worker API does, in plain C++: registration, heartbeats, the AcquireJob
// long-poll, fenced reports. Thread-safe (all state is in the Repository; waiting
// AcquireJob calls are parked in a service::LongPoll, served by a few threads).
#ifndef RIB_SERVER_SERVICE_WORKER_SERVICE_H_
#define RIB_SERVER_SERVICE_WORKER_SERVICE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/domain/types.h"
#include "server/service/long_poll.h"
#include "server/storage/change_notifier.h"
#include "server/storage/repository.h"

namespace rib::service {

class CoordinatorMetrics;

// Bounds on what a worker's report may store.
inline constexpr size_t kMaxReportErrorBytes = 4096;
inline constexpr size_t kMaxReportPathBytes = 1024;
inline constexpr size_t kMaxReportSubsetBytes = 200;
// Each text field of a reproducibility record, and a weights digest.
inline constexpr size_t kMaxReportRecordBytes = 256;
// One AppendAttemptLog call.
inline constexpr size_t kMaxLogAppendBytes = 64 << 10;
// Bounds on what a worker may claim when it registers.
inline constexpr size_t kMaxWorkerDatasets = 64;
inline constexpr size_t kMaxWorkerLabels = 32;
inline constexpr size_t kMaxWorkerDeviceKinds = 2;  // cpu, cuda
inline constexpr int kMaxWorkerDevices = 1024;
// At most one lease per device, and as many more finishing their reports.
inline constexpr size_t kMaxHeldLeases = 2 * kMaxWorkerDevices;

struct WorkerServiceOptions {
  // Told to workers at registration. Default 10 s; the lease timeout should be a few
  // intervals so one lost heartbeat does not cost a job.
  absl::Duration heartbeat_interval = absl::Seconds(10);
  // Told to workers at registration. Must equal the Repository's lease_timeout
  // (Coordinator sets both from CoordinatorOptions::lease_timeout). Default 30 s.
  absl::Duration lease_timeout = absl::Seconds(30);
  // Upper bound of an AcquireJob wait, whatever the worker asks. Default 60 s.
  absl::Duration max_wait = absl::Seconds(60);
  // Re-check interval of a long-poll when no NOTIFY arrives. Default 1 s.
  absl::Duration poll = absl::Seconds(1);
  // Threads that serve every AcquireJob long-poll (service::LongPoll). Default 16
  // (CoordinatorOptions::acquire_threads says why).
  int acquire_threads = 16;
  // AcquireJob calls waiting at once at most; more get RESOURCE_EXHAUSTED. Default
  // 100,000: far more workers than one coordinator serves, few enough to bound memory.
  size_t max_waiting_acquires = 100000;
  // Where hand-outs' queue waits are observed. Default nullptr = nowhere. Not owned.
  CoordinatorMetrics* metrics = nullptr;
};

// One AcquireJob call, in plain C++.
struct AcquireRequest {
  std::string principal;  // the caller's token user
  std::string worker_id;
  int free_devices = 0;
  std::string device_kind;
  absl::Duration wait;  // capped by WorkerServiceOptions::max_wait
  // Set when the worker lists the leases it holds: the others are requeued first
  // (ReleaseOrphanedLeases).
  std::optional<std::vector<domain::LeaseRef>> held;
};

struct Registration {
  domain::Worker worker;
  absl::Duration heartbeat_interval;
  absl::Duration lease_timeout;
};

class WorkerService {
 public:
  // `repo` and `changes` are not owned and must outlive the service.
  WorkerService(storage::Repository* repo, storage::ChangeNotifier* changes,
                WorkerServiceOptions options);

  // INVALID_ARGUMENT naming the claim when the name is not a valid name, a dataset is
  // not in the catalog, a device kind is not cpu or cuda (or is listed twice), a count
  // is outside 0..kMaxWorkerDevices, or a list is longer than its bound.
  absl::StatusOr<Registration> Register(const storage::WorkerRegistration& reg);
  // `principal` is the caller's token user: Heartbeat, Acquire (and Report, through
  // JobReport::reporter) act for a worker only when that user registered it
  // (PERMISSION_DENIED otherwise).
  //
  // NOT_FOUND for a worker the coordinator does not know (it must register anew).
  absl::StatusOr<storage::HeartbeatResult> Heartbeat(
      const std::string& principal, const std::string& worker_id,
      const std::vector<domain::LeaseRef>& leases, int free_devices);
  // Storage's ReleaseOrphanedLeases: requeues the worker's leases not in `held`.
  // INVALID_ARGUMENT when `held` lists more than kMaxHeldLeases.
  absl::StatusOr<int> ReleaseOrphanedLeases(const std::string& principal,
                                            const std::string& worker_id,
                                            const std::vector<domain::LeaseRef>& held);
  // AcquireAsync, waited for on the calling thread (for callers that have one to spare:
  // tests, tools). `cancelled` (may be empty) is read at each of LongPoll's ticks.
  absl::StatusOr<std::optional<domain::Lease>> Acquire(
      const std::string& principal, const std::string& worker_id, int free_devices,
      const std::string& device_kind, absl::Duration wait,
      const std::function<bool()>& cancelled);
  using AcquireDone = std::function<void(absl::StatusOr<std::optional<domain::Lease>>)>;
  // Releases the orphaned leases (when `req.held` is set), then waits up to `req.wait`
  // (capped by max_wait) for a job that fits. `done` is called exactly once, usually
  // from another thread, with the lease, or nullopt when none came in time or
  // `cancelled` (may be null) turned true. No thread and no database connection is
  // held while the call waits. Errors through `done`: RESOURCE_EXHAUSTED when
  // max_waiting_acquires calls already wait, ReleaseOrphanedLeases' and the
  // repository's.
  void AcquireAsync(AcquireRequest req, std::shared_ptr<const std::atomic<bool>> cancelled,
                    AcquireDone done);
  // Records one event of an attempt (storage fences it: only the current attempt's
  // events are written). The report is checked and bounded first, so a worker cannot
  // store what a user should never see or the matrix cannot use: INVALID_ARGUMENT
  // naming the field for a result of an unknown dataset, negative counts, correct >
  // total, an overlong subset, or a checkpoint or weights path that is absolute, leaves
  // the artifact root ("..") or is longer than kMaxReportPathBytes. An error message
  // longer than kMaxReportErrorBytes is cut there (and says so).
  absl::Status Report(const domain::JobReport& report);
  // Storage's AppendAttemptLog, after INVALID_ARGUMENT checks naming the field: a job
  // id, attempt >= 1, 0 <= rank < kMaxWorkerDevices, offset >= 0, at most
  // kMaxLogAppendBytes of data. Returns the end offset the coordinator stored.
  absl::StatusOr<int64_t> AppendLog(const domain::LogAppend& append);
  absl::StatusOr<std::vector<domain::Worker>> ListWorkers();
  absl::StatusOr<domain::Worker> Drain(const std::string& worker_id);
  absl::StatusOr<domain::Worker> Undrain(const std::string& worker_id);

 private:
  // One hand-out attempt, logged and observed.
  absl::StatusOr<std::optional<domain::Lease>> TryAcquire(const AcquireRequest& req);

  storage::Repository* const repo_;
  storage::ChangeNotifier* const changes_;
  const WorkerServiceOptions options_;
  LongPoll acquires_;  // last: its threads call TryAcquire
};

}  // namespace rib::service

#endif  // RIB_SERVER_SERVICE_WORKER_SERVICE_H_
