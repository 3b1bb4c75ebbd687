// In-memory Repository: the fake used by unit tests of the services and RPC layer.
// Applies the same rules as PostgresRepository (the contract suite checks both).
// Thread-safe: one mutex guards everything.
#ifndef RIB_SERVER_STORAGE_MEMORY_REPOSITORY_H_
#define RIB_SERVER_STORAGE_MEMORY_REPOSITORY_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/scheduling/clock.h"
#include "server/storage/change_signal.h"
#include "server/storage/repository.h"

namespace rib::storage {

struct RepositoryOptions {
  // Time source for leases and timestamps. Default: the real clock. Not owned.
  scheduling::Clock* clock = nullptr;
  // A lease not renewed by a heartbeat within this long expires. Default 30 s: three
  // missed heartbeats at the worker's 10 s interval.
  absl::Duration lease_timeout = absl::Seconds(30);
};

class MemoryRepository : public Repository {
 public:
  explicit MemoryRepository(RepositoryOptions options = {});

  absl::StatusOr<SubmitResult> SubmitSweep(const NewSweep& sweep) override;
  absl::StatusOr<Sweep> GetSweep(const std::string& sweep_id) override;
  absl::StatusOr<SweepList> ListSweeps(int page_size,
                                       const std::string& page_token) override;
  absl::StatusOr<Sweep> CancelSweep(const std::string& sweep_id) override;
  absl::StatusOr<Sweep> RetrySweep(const std::string& sweep_id) override;
  absl::StatusOr<JobList> ListJobs(const JobFilter& filter) override;
  absl::StatusOr<Job> GetJob(const std::string& job_id) override;
  absl::StatusOr<std::vector<MatrixJob>> GetMatrixJobs(
      const std::string& sweep_id) override;
  absl::StatusOr<Worker> RegisterWorker(const WorkerRegistration& reg) override;
  absl::StatusOr<HeartbeatResult> Heartbeat(const std::string& worker_id,
                                            const std::vector<domain::LeaseRef>& leases,
                                            int free_devices) override;
  absl::StatusOr<std::optional<domain::Lease>> AcquireJob(
      const std::string& worker_id, int free_devices,
      const std::string& device_kind) override;
  absl::Status Report(const domain::JobReport& report) override;
  absl::StatusOr<int> ExpireLeases() override;
  absl::StatusOr<std::vector<Worker>> ListWorkers() override;
  absl::StatusOr<Worker> DrainWorker(const std::string& worker_id) override;
  absl::StatusOr<std::vector<SweepEvent>> ListEvents(const std::string& sweep_id,
                                                     int64_t after_id,
                                                     int limit) override;
  absl::StatusOr<int64_t> LastEventId(const std::string& sweep_id) override;
  absl::StatusOr<int64_t> PruneProgressEvents(absl::Time before) override;
  uint64_t ChangeCounter(Topic topic) override { return Signal(topic).value(); }
  uint64_t WaitForChange(Topic topic, uint64_t seen, absl::Duration timeout) override {
    return Signal(topic).WaitChanged(seen, timeout);
  }

 private:
  struct JobRow {
    Job job;
    int64_t seq = 0;
    absl::Time lease_expires_at = absl::InfinitePast();
    std::vector<std::string> datasets;
  };
  struct WorkerRow {
    Worker worker;
    int64_t seq = 0;
  };
  using ResultKey = std::pair<std::string, std::string>;  // dataset, subset

  std::string NewId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Sweep SweepWithCounts(const Sweep& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetState(JobRow& row, JobState to, const std::string& error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AfterTerminal(JobRow& row) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RefreshSweepState(const std::string& sweep_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool DepsSucceeded(const Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddEvent(SweepEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<std::string> RunningJobs(const std::string& worker_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RepositoryOptions options_;
  scheduling::Clock* const clock_;
  ChangeSignal& Signal(Topic t) { return t == Topic::kQueue ? queue_signal_ : signal_; }
  ChangeSignal signal_;        // kEvents
  ChangeSignal queue_signal_;  // kQueue

  absl::Mutex mu_;
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::string, Sweep> sweeps_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> sweep_seq_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> request_ids_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, JobRow> jobs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> job_order_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::map<ResultKey, Accuracy>> results_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, WorkerRow> workers_ ABSL_GUARDED_BY(mu_);
  std::vector<SweepEvent> events_ ABSL_GUARDED_BY(mu_);
  int64_t last_event_id_ ABSL_GUARDED_BY(mu_) = 0;  // ids survive pruning
};

}  // namespace rib::storage

#endif  // RIB_SERVER_STORAGE_MEMORY_REPOSITORY_H_
