#include "server/storage/memory_repository.h"

#include <algorithm>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "server/scheduling/job_state_machine.h"
#include "server/scheduling/retry_policy.h"
#include "server/storage/repository_util.h"

namespace rib::storage {

using domain::JobReport;
using domain::JobState;
using domain::SweepState;
using domain::WorkerState;
using scheduling::Clock;

MemoryRepository::MemoryRepository(RepositoryOptions options)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : Clock::Real()) {}

std::string MemoryRepository::NewId() {
  static std::mt19937_64 rng(std::random_device{}());
  return absl::StrFormat("%016x-%06d", rng(), next_seq_++);
}

Sweep MemoryRepository::SweepWithCounts(const Sweep& s) {
  Sweep out = s;
  out.counts.clear();
  for (const auto& [id, row] : jobs_) {
    if (row.job.sweep_id == s.id) ++out.counts[row.job.state];
  }
  return out;
}

void MemoryRepository::AddEvent(SweepEvent event) {
  event.id = ++last_event_id_;
  event.time = clock_->Now();
  events_.push_back(std::move(event));
  signal_.Notify();
}

void MemoryRepository::SetState(JobRow& row, JobState to, const std::string& error) {
  Job& job = row.job;
  job.state = to;
  job.updated_at = clock_->Now();
  if (!error.empty()) job.error = error;
  if (to != JobState::kLeased && to != JobState::kRunning) {
    row.lease_expires_at = absl::InfinitePast();
  }
  SweepEvent e;
  e.sweep_id = job.sweep_id;
  e.job_id = job.id;
  e.kind = SweepEvent::Kind::kState;
  e.job_state = to;
  e.job_label = job.key;
  e.error = to == JobState::kFailed || to == JobState::kQueued ? error : "";
  AddEvent(std::move(e));
  if (to == JobState::kQueued) queue_signal_.Notify();
}

bool MemoryRepository::DepsSucceeded(const Job& job) {
  for (const std::string& dep : job.depends_on) {
    if (jobs_.at(dep).job.state != JobState::kSucceeded) return false;
  }
  return true;
}

void MemoryRepository::AfterTerminal(JobRow& row) {
  // Dependents waiting on this job: promote when all their deps succeeded; fail when
  // this one failed for good.
  std::vector<std::string> failed;
  for (auto& [id, other] : jobs_) {
    if (other.job.state != JobState::kPending) continue;
    const auto& deps = other.job.depends_on;
    if (std::find(deps.begin(), deps.end(), row.job.id) == deps.end()) continue;
    if (row.job.state == JobState::kSucceeded) {
      if (DepsSucceeded(other.job)) SetState(other, JobState::kQueued, "");
    } else if (row.job.state == JobState::kFailed) {
      SetState(other, JobState::kFailed,
               absl::StrCat("dependency ", row.job.key, " failed"));
      failed.push_back(id);
    }
  }
  for (const std::string& id : failed) AfterTerminal(jobs_.at(id));
  RefreshSweepState(row.job.sweep_id);
}

void MemoryRepository::RefreshSweepState(const std::string& sweep_id) {
  Sweep& sweep = sweeps_.at(sweep_id);
  SweepState state = scheduling::DeriveSweepState(SweepWithCounts(sweep).counts);
  if (state == sweep.state) return;
  sweep.state = state;
  if (state != SweepState::kActive) {
    SweepEvent e;
    e.sweep_id = sweep_id;
    e.kind = SweepEvent::Kind::kSweepState;
    e.sweep_state = state;
    AddEvent(std::move(e));
  }
}

absl::StatusOr<SubmitResult> MemoryRepository::SubmitSweep(const NewSweep& in) {
  RIB_RETURN_IF_ERROR(internal::ValidateNewSweep(in));
  absl::MutexLock l(&mu_);
  if (!in.client_request_id.empty()) {
    auto it = request_ids_.find(in.client_request_id);
    if (it != request_ids_.end()) {
      SubmitResult r;
      r.sweep_id = it->second;
      r.existing = true;
      for (const auto& [id, row] : jobs_) {
        if (row.job.sweep_id != r.sweep_id) continue;
        ++r.jobs_total;
        if (!row.job.reused_from.empty()) ++r.jobs_reused;
      }
      r.jobs_new = r.jobs_total - r.jobs_reused;
      return r;
    }
  }
  const absl::Time now = clock_->Now();
  Sweep sweep;
  sweep.id = NewId();
  sweep.name = in.name;
  sweep.owner = in.owner;
  sweep.priority = in.priority;
  sweep.max_attempts = in.max_attempts;
  sweep.created_at = now;
  sweep.yaml = in.yaml;
  sweep.client_request_id = in.client_request_id;
  sweep.suite = in.suite;
  sweep.models = in.models;
  sweep.methods = in.methods;
  sweep.finetune_datasets = in.finetune_datasets;
  sweep.eval_datasets = in.eval_datasets;
  sweeps_[sweep.id] = sweep;
  sweep_seq_[sweep.id] = next_seq_++;
  if (!in.client_request_id.empty()) request_ids_[in.client_request_id] = sweep.id;

  SubmitResult result;
  result.sweep_id = sweep.id;
  std::map<std::string, std::string> key_to_id;
  for (const NewJob& nj : in.jobs) {
    JobRow row;
    Job& job = row.job;
    job.id = NewId();
    row.seq = next_seq_++;
    job.sweep_id = sweep.id;
    job.key = nj.key;
    job.hash = nj.hash;
    job.spec = nj.spec;
    job.max_attempts = in.max_attempts;
    job.priority = in.priority;
    job.owner = in.owner;
    job.created_at = job.updated_at = now;
    for (const std::string& dep : nj.depends_on)
      job.depends_on.push_back(key_to_id.at(dep));
    row.datasets = internal::JobDatasets(nj.spec);
    if (!in.force) {
      for (const std::string& id : job_order_) {
        const Job& other = jobs_.at(id).job;
        if (other.hash == job.hash && other.state == JobState::kSucceeded &&
            other.reused_from.empty()) {
          job.reused_from = other.id;
          job.final_weights = other.final_weights;
          job.progress = 1.0;
          break;
        }
      }
    }
    job.state = scheduling::InitialJobState(!job.reused_from.empty(), DepsSucceeded(job));
    ++result.jobs_total;
    if (job.reused_from.empty()) {
      ++result.jobs_new;
    } else {
      ++result.jobs_reused;
    }
    key_to_id[job.key] = job.id;
    job_order_.push_back(job.id);
    SweepEvent e;
    e.sweep_id = sweep.id;
    e.job_id = job.id;
    e.kind = SweepEvent::Kind::kState;
    e.job_state = job.state;
    e.job_label = job.key;
    if (job.state == JobState::kQueued) queue_signal_.Notify();
    jobs_[job.id] = std::move(row);
    AddEvent(std::move(e));
  }
  RefreshSweepState(sweep.id);
  return result;
}

absl::StatusOr<Sweep> MemoryRepository::GetSweep(const std::string& sweep_id) {
  absl::MutexLock l(&mu_);
  auto it = sweeps_.find(sweep_id);
  if (it == sweeps_.end())
    return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
  return SweepWithCounts(it->second);
}

absl::StatusOr<SweepList> MemoryRepository::ListSweeps(int page_size,
                                                       const std::string& page_token) {
  RIB_ASSIGN_OR_RETURN(int64_t before, internal::ParsePageToken(page_token));
  const int n = internal::ClampPageSize(page_size, 50, 1000);
  absl::MutexLock l(&mu_);
  std::vector<std::pair<int64_t, std::string>> order;
  for (const auto& [id, seq] : sweep_seq_) {
    if (before == 0 || seq < before) order.emplace_back(seq, id);
  }
  std::sort(order.rbegin(), order.rend());
  SweepList out;
  for (const auto& [seq, id] : order) {
    if (static_cast<int>(out.sweeps.size()) == n) {
      out.next_page_token = std::to_string(sweep_seq_.at(out.sweeps.back().id));
      break;
    }
    out.sweeps.push_back(SweepWithCounts(sweeps_.at(id)));
  }
  return out;
}

absl::StatusOr<Sweep> MemoryRepository::CancelSweep(const std::string& sweep_id) {
  absl::MutexLock l(&mu_);
  if (sweeps_.count(sweep_id) == 0) {
    return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
  }
  for (const std::string& id : job_order_) {
    JobRow& row = jobs_.at(id);
    if (row.job.sweep_id == sweep_id && !domain::IsTerminal(row.job.state)) {
      SetState(row, JobState::kCancelled, "");
    }
  }
  RefreshSweepState(sweep_id);
  return SweepWithCounts(sweeps_.at(sweep_id));
}

absl::StatusOr<Sweep> MemoryRepository::RetrySweep(const std::string& sweep_id) {
  absl::MutexLock l(&mu_);
  auto it = sweeps_.find(sweep_id);
  if (it == sweeps_.end())
    return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
  const int budget = it->second.max_attempts;
  // In creation order, so a retried dependency is QUEUED before its dependents look.
  for (const std::string& id : job_order_) {
    JobRow& row = jobs_.at(id);
    Job& job = row.job;
    if (job.sweep_id != sweep_id) continue;
    if (job.state != JobState::kFailed && job.state != JobState::kCancelled) continue;
    job.max_attempts = job.attempt + budget;
    job.error.clear();
    job.worker_id.clear();
    SetState(row, DepsSucceeded(job) ? JobState::kQueued : JobState::kPending, "");
  }
  RefreshSweepState(sweep_id);
  return SweepWithCounts(sweeps_.at(sweep_id));
}

absl::StatusOr<JobList> MemoryRepository::ListJobs(const JobFilter& filter) {
  RIB_ASSIGN_OR_RETURN(int64_t after, internal::ParsePageToken(filter.page_token));
  const int n = internal::ClampPageSize(filter.page_size, 500, 5000);
  absl::MutexLock l(&mu_);
  JobList out;
  for (const std::string& id : job_order_) {
    const JobRow& row = jobs_.at(id);
    if (!filter.sweep_id.empty() && row.job.sweep_id != filter.sweep_id) continue;
    if (filter.state && row.job.state != *filter.state) continue;
    ++out.total;
    if (row.seq <= after) continue;
    if (static_cast<int>(out.jobs.size()) < n) {
      out.jobs.push_back(row.job);
    } else if (out.next_page_token.empty()) {
      out.next_page_token = std::to_string(jobs_.at(out.jobs.back().id).seq);
    }
  }
  return out;
}

absl::StatusOr<Job> MemoryRepository::GetJob(const std::string& job_id) {
  absl::MutexLock l(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job ", job_id));
  Job job = it->second.job;
  const std::string& source = job.reused_from.empty() ? job.id : job.reused_from;
  auto rit = results_.find(source);
  if (rit != results_.end()) {
    for (const auto& [k, acc] : rit->second) job.results.push_back(acc);
  }
  return job;
}

absl::StatusOr<std::vector<MatrixJob>> MemoryRepository::GetMatrixJobs(
    const std::string& sweep_id) {
  absl::MutexLock l(&mu_);
  if (sweeps_.count(sweep_id) == 0) {
    return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
  }
  std::vector<MatrixJob> out;
  for (const std::string& id : job_order_) {
    const Job& job = jobs_.at(id).job;
    if (job.sweep_id != sweep_id) continue;
    MatrixJob m;
    m.job_id = job.id;
    m.model = job.spec.model.name;
    m.method = job.spec.method.name;
    m.method_kind = job.spec.method.kind;
    m.finetune_dataset = job.spec.finetune_dataset;
    m.state = job.state;
    auto rit = results_.find(job.reused_from.empty() ? job.id : job.reused_from);
    if (rit != results_.end()) {
      for (const auto& [k, acc] : rit->second) m.results.push_back(acc);
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<std::string> MemoryRepository::RunningJobs(const std::string& worker_id) {
  std::vector<std::string> out;
  for (const std::string& id : job_order_) {
    const Job& job = jobs_.at(id).job;
    if (job.worker_id == worker_id &&
        (job.state == JobState::kLeased || job.state == JobState::kRunning)) {
      out.push_back(id);
    }
  }
  return out;
}

absl::StatusOr<Worker> MemoryRepository::RegisterWorker(const WorkerRegistration& reg) {
  absl::MutexLock l(&mu_);
  WorkerRow row;
  Worker& w = row.worker;
  w.id = NewId();
  row.seq = next_seq_++;
  w.name = reg.name;
  w.devices = reg.devices;
  if (w.devices.size() > 1) w.devices.resize(1);
  w.datasets = reg.datasets;
  w.labels = reg.labels;
  w.last_heartbeat = clock_->Now();
  w.free_devices = w.devices.empty() ? 0 : w.devices[0].count;
  workers_[w.id] = row;
  return w;
}

absl::StatusOr<HeartbeatResult> MemoryRepository::Heartbeat(
    const std::string& worker_id, const std::vector<domain::LeaseRef>& leases,
    int free_devices) {
  absl::MutexLock l(&mu_);
  auto wit = workers_.find(worker_id);
  if (wit == workers_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown worker ", worker_id));
  }
  Worker& w = wit->second.worker;
  const absl::Time now = clock_->Now();
  w.last_heartbeat = now;
  w.free_devices = free_devices;
  if (w.state == WorkerState::kLost) w.state = WorkerState::kActive;
  HeartbeatResult out;
  out.drain = w.state == WorkerState::kDraining;
  for (const domain::LeaseRef& lease : leases) {
    auto it = jobs_.find(lease.job_id);
    bool mine = it != jobs_.end() && it->second.job.worker_id == worker_id &&
                it->second.job.attempt == lease.attempt &&
                (it->second.job.state == JobState::kLeased ||
                 it->second.job.state == JobState::kRunning);
    if (mine) {
      it->second.lease_expires_at = now + options_.lease_timeout;
    } else {
      out.revoked.push_back(lease);
    }
  }
  return out;
}

absl::StatusOr<std::optional<domain::Lease>> MemoryRepository::AcquireJob(
    const std::string& worker_id, int free_devices, const std::string& /*device_kind*/) {
  absl::MutexLock l(&mu_);
  auto wit = workers_.find(worker_id);
  if (wit == workers_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown worker ", worker_id));
  }
  Worker& w = wit->second.worker;
  const absl::Time now = clock_->Now();
  w.last_heartbeat = now;
  if (w.state == WorkerState::kLost) w.state = WorkerState::kActive;
  if (w.state == WorkerState::kDraining) return std::optional<domain::Lease>();
  std::set<std::string> have(w.datasets.begin(), w.datasets.end());
  std::map<std::string, int> in_use;  // owner → devices of LEASED/RUNNING jobs
  for (const auto& [id, row] : jobs_) {
    if (row.job.state == JobState::kLeased || row.job.state == JobState::kRunning) {
      in_use[row.job.owner] += row.job.spec.devices;
    }
  }
  JobRow* best = nullptr;
  auto better = [&](const JobRow& a, const JobRow& b) {
    if (a.job.priority != b.job.priority) return a.job.priority > b.job.priority;
    int ua = in_use[a.job.owner], ub = in_use[b.job.owner];
    if (ua != ub) return ua < ub;
    return a.seq < b.seq;
  };
  for (const std::string& id : job_order_) {
    JobRow& row = jobs_.at(id);
    if (row.job.state != JobState::kQueued || row.job.spec.devices > free_devices)
      continue;
    bool fits = std::all_of(row.datasets.begin(), row.datasets.end(),
                            [&](const std::string& d) { return have.count(d) > 0; });
    if (!fits) continue;
    if (best == nullptr || better(row, *best)) best = &row;
  }
  if (best == nullptr) return std::optional<domain::Lease>();
  Job& job = best->job;
  job.attempt += 1;
  job.worker_id = worker_id;
  job.error.clear();
  SetState(*best, JobState::kLeased, "");
  best->lease_expires_at = now + options_.lease_timeout;
  domain::Lease lease;
  lease.job_id = job.id;
  lease.attempt = job.attempt;
  lease.hash = job.hash;
  lease.spec = job.spec;
  lease.resume_checkpoint = job.last_checkpoint;
  return std::optional<domain::Lease>(lease);
}

absl::Status MemoryRepository::Report(const JobReport& report) {
  RIB_RETURN_IF_ERROR(internal::ValidateReport(report));
  absl::MutexLock l(&mu_);
  auto it = jobs_.find(report.job_id);
  if (it == jobs_.end())
    return absl::NotFoundError(absl::StrCat("no job ", report.job_id));
  JobRow& row = it->second;
  Job& job = row.job;
  if (report.attempt != job.attempt ||
      (job.state != JobState::kLeased && job.state != JobState::kRunning)) {
    return internal::StaleReportError(report, job.attempt, job.state);
  }
  const absl::Time now = clock_->Now();
  job.updated_at = now;
  switch (report.kind) {
    case JobReport::Kind::kStarted:
      if (job.state == JobState::kLeased) SetState(row, JobState::kRunning, "");
      break;
    case JobReport::Kind::kProgress: {
      const auto& p = report.progress;
      job.progress = p.steps > 0 ? static_cast<double>(p.step) / p.steps : 0.0;
      SweepEvent e;
      e.sweep_id = job.sweep_id;
      e.job_id = job.id;
      e.kind = SweepEvent::Kind::kProgress;
      e.progress = p;
      e.job_label = job.key;
      AddEvent(std::move(e));
      break;
    }
    case JobReport::Kind::kResult: {
      results_[job.id][{report.result.dataset, report.result.subset}] = report.result;
      SweepEvent e;
      e.sweep_id = job.sweep_id;
      e.job_id = job.id;
      e.kind = SweepEvent::Kind::kResult;
      e.result = report.result;
      e.job_label = job.key;
      AddEvent(std::move(e));
      break;
    }
    case JobReport::Kind::kCheckpoint:
      job.last_checkpoint = report.checkpoint;
      break;
    case JobReport::Kind::kFinished:
      if (report.ok) {
        job.final_weights = report.weights;
        job.progress = 1.0;
        SetState(row, JobState::kSucceeded, "");
        AfterTerminal(row);
      } else {
        JobState next =
            scheduling::StateAfterReportedFailure(report, job.attempt, job.max_attempts);
        const std::string error = scheduling::FailureMessage(report);
        if (next == JobState::kQueued) job.worker_id.clear();
        SetState(row, next, error);
        if (next == JobState::kFailed) AfterTerminal(row);
      }
      break;
  }
  return absl::OkStatus();
}

absl::StatusOr<int> MemoryRepository::ExpireLeases() {
  absl::MutexLock l(&mu_);
  const absl::Time now = clock_->Now();
  int changed = 0;
  for (const std::string& id : job_order_) {
    JobRow& row = jobs_.at(id);
    Job& job = row.job;
    if (job.state != JobState::kLeased && job.state != JobState::kRunning) continue;
    if (row.lease_expires_at > now) continue;
    JobState next = scheduling::StateAfterLeaseExpiry(job.attempt, job.max_attempts);
    std::string error = scheduling::LeaseExpiredMessage(job.attempt, job.worker_id);
    job.worker_id.clear();
    SetState(row, next, error);
    if (next == JobState::kFailed) AfterTerminal(row);
    ++changed;
  }
  for (auto& [id, wrow] : workers_) {
    Worker& w = wrow.worker;
    if (w.state == WorkerState::kActive &&
        w.last_heartbeat + options_.lease_timeout < now) {
      w.state = WorkerState::kLost;
    }
  }
  return changed;
}

absl::StatusOr<std::vector<Worker>> MemoryRepository::ListWorkers() {
  absl::MutexLock l(&mu_);
  std::vector<std::pair<int64_t, std::string>> order;
  for (const auto& [id, row] : workers_) order.emplace_back(row.seq, id);
  std::sort(order.begin(), order.end());
  std::vector<Worker> out;
  for (const auto& [seq, id] : order) {
    Worker w = workers_.at(id).worker;
    w.running_jobs = RunningJobs(id);
    out.push_back(std::move(w));
  }
  return out;
}

absl::StatusOr<Worker> MemoryRepository::DrainWorker(const std::string& worker_id) {
  absl::MutexLock l(&mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown worker ", worker_id));
  }
  it->second.worker.state = WorkerState::kDraining;
  Worker w = it->second.worker;
  w.running_jobs = RunningJobs(worker_id);
  return w;
}

absl::StatusOr<std::vector<SweepEvent>> MemoryRepository::ListEvents(
    const std::string& sweep_id, int64_t after_id, int limit) {
  absl::MutexLock l(&mu_);
  if (sweeps_.count(sweep_id) == 0) {
    return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
  }
  std::vector<SweepEvent> out;
  for (const SweepEvent& e : events_) {
    if (e.id <= after_id || e.sweep_id != sweep_id) continue;
    out.push_back(e);
    if (static_cast<int>(out.size()) >= limit) break;
  }
  return out;
}

absl::StatusOr<int64_t> MemoryRepository::LastEventId(const std::string& sweep_id) {
  absl::MutexLock l(&mu_);
  if (sweeps_.count(sweep_id) == 0) {
    return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
  }
  for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
    if (it->sweep_id == sweep_id) return it->id;
  }
  return 0;
}

absl::StatusOr<int64_t> MemoryRepository::PruneProgressEvents(absl::Time before) {
  absl::MutexLock l(&mu_);
  const size_t size = events_.size();
  events_.erase(std::remove_if(events_.begin(), events_.end(),
                               [&](const SweepEvent& e) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                 if (e.kind != SweepEvent::Kind::kProgress) return false;
                                 if (e.time >= before) return false;
                                 auto it = jobs_.find(e.job_id);
                                 return it != jobs_.end() &&
                                        domain::IsTerminal(it->second.job.state);
                               }),
                events_.end());
  return static_cast<int64_t>(size - events_.size());
}

}  // namespace rib::storage
