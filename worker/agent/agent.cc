#include "worker/agent/agent.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "proto/convert/job_spec_convert.h"
#include "worker/agent/call_auth.h"
#include "worker/agent/event_stream.h"

namespace rib::agent {
namespace {

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "worker";
  return buf;
}

// An attempt takes from seconds (a reused or failing job) to days (a large fine-tune).
const prometheus::Histogram::BucketBoundaries& JobDurationBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      1, 5, 15, 60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400};
  return *b;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Agent>> Agent::Create(AgentOptions options,
                                                     JobExecutor* executor) {
  if (options.coordinator.empty()) {
    return absl::InvalidArgumentError("agent: the coordinator address is empty");
  }
  if (options.devices.ids.empty()) {
    return absl::InvalidArgumentError("agent: the worker offers no devices");
  }
  if (executor == nullptr) return absl::InvalidArgumentError("agent: no executor");
  if (options.name.empty()) options.name = HostName();
  grpc::ChannelArguments args;
  // Reconnect quickly after a coordinator restart.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      tls::MakeChannel(options.coordinator, options.tls, args);
  if (!channel.ok()) {
    return absl::Status(channel.status().code(),
                        absl::StrCat("agent: ", channel.status().message()));
  }
  return std::unique_ptr<Agent>(
      new Agent(std::move(options), executor, *std::move(channel)));
}

Agent::Agent(AgentOptions options, JobExecutor* executor,
             std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)), executor_(executor), channel_(std::move(channel)) {
  stub_ = v1::WorkerApi::NewStub(channel_);
  heartbeat_interval_ = options_.default_heartbeat_interval;
  free_slots_ = options_.devices.ids;
}

Agent::~Agent() {
  // Run() joins its threads before returning; an agent never Run() has none.
  Shutdown();
}

std::string Agent::worker_id() const {
  absl::MutexLock lock(&mu_);
  return worker_id_;
}
int Agent::registrations() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(generation_);
}
int Agent::free_slots() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(free_slots_.size());
}
int Agent::running_jobs() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(jobs_.size());
}
int Agent::total_slots() const { return options_.devices.count(); }
std::map<std::string, int64_t> Agent::job_exits() const {
  absl::MutexLock lock(&mu_);
  return job_exits_;
}

std::map<std::string, prometheus::ClientMetric> Agent::job_durations() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, prometheus::ClientMetric> out;
  for (const auto& [how, histogram] : job_durations_) out.emplace(how, histogram.Collect());
  return out;
}

absl::Status Agent::Run() {
  std::thread heartbeat([this] { HeartbeatLoop(); });
  AcquireLoop();

  // No new leases from here on: wait for the running jobs to end.
  {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return jobs_.empty(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&idle), options_.drain_timeout)) {
      RIB_LOG(WARNING) << jobs_.size() << " job(s) did not stop within "
                       << absl::FormatDuration(options_.drain_timeout) << "; killing them";
      for (auto& [key, job] : jobs_) job.running->Kill();
      mu_.Await(absl::Condition(&idle));
    }
    stop_heartbeat_ = true;
  }
  heartbeat.join();
  ReapFinishedThreads();
  RIB_LOG(INFO) << "agent stopped";
  return absl::OkStatus();
}

void Agent::Drain() {
  absl::MutexLock lock(&mu_);
  if (draining_) return;
  draining_ = true;
  RIB_LOG(INFO) << "draining: no new leases; asking " << jobs_.size()
                << " running job(s) to checkpoint and stop";
  if (acquire_context_ != nullptr) acquire_context_->TryCancel();
  for (auto& [key, job] : jobs_) {
    if (!job.revoked) job.running->Drain();
  }
}

void Agent::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return;
  shutdown_ = true;
  draining_ = true;
  if (acquire_context_ != nullptr) acquire_context_->TryCancel();
  KillAllLocked("shutdown");
}

void Agent::KillAllLocked(absl::string_view why) {
  for (auto& [key, job] : jobs_) {
    if (job.revoked) continue;
    RIB_LOG(WARNING) << "killing job " << job.job_id << " attempt " << job.attempt << ": "
                     << why;
    job.revoked = true;
    job.running->Kill();
  }
}

void Agent::PrepareCall(grpc::ClientContext* ctx, absl::Duration deadline) const {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  AuthorizeCall(ctx, options_.token);
}

void Agent::LogCallFailure(const std::string& what, const absl::Status& s) const {
  std::string why = DescribeRefusal(s, !options_.token.empty());
  if (why.empty()) why = tls::DescribeConnectFailure(options_.tls, s.message());
  RIB_LOG(WARNING) << what << " failed: " << s << (why.empty() ? "" : " -- ") << why;
}

absl::Status Agent::RegisterOnce() {
  v1::RegisterRequest req;
  req.set_name(options_.name);
  v1::Device* device = req.add_devices();
  device->set_kind(options_.devices.kind);
  device->set_count(options_.devices.count());
  for (const auto& d : options_.datasets) req.add_datasets(d);
  for (const auto& l : options_.labels) req.add_labels(l);
  grpc::ClientContext ctx;
  PrepareCall(&ctx, options_.rpc_timeout);
  v1::RegisterResponse resp;
  absl::Status s = FromGrpcStatus(stub_->Register(&ctx, req, &resp));
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  worker_id_ = resp.worker_id();
  if (resp.heartbeat_interval_ms() > 0) {
    heartbeat_interval_ = absl::Milliseconds(resp.heartbeat_interval_ms());
  }
  if (resp.lease_timeout_ms() > 0) {
    lease_timeout_ = absl::Milliseconds(resp.lease_timeout_ms());
  }
  ++generation_;
  need_register_ = false;
  RIB_LOG(INFO) << "registered with " << options_.coordinator << " as " << worker_id_
                << " (" << options_.devices.count() << " " << options_.devices.kind
                << " slot(s), " << options_.datasets.size() << " dataset(s), heartbeat "
                << absl::FormatDuration(heartbeat_interval_) << ")";
  return absl::OkStatus();
}

void Agent::HeartbeatLoop() {
  while (true) {
    bool need_register;
    absl::Duration interval;
    {
      absl::MutexLock lock(&mu_);
      if (stop_heartbeat_) return;
      need_register = need_register_ && !draining_;
      interval = heartbeat_interval_;
    }
    if (need_register) {
      absl::Status s = RegisterOnce();
      if (!s.ok()) {
        LogCallFailure("registration with " + options_.coordinator, s);
        absl::MutexLock lock(&mu_);
        auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stop_heartbeat_ || draining_;
        };
        mu_.AwaitWithTimeout(absl::Condition(&stop), options_.retry_backoff);
      }
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_heartbeat_ || (need_register_ && !draining_);
      };
      // Wake for the next heartbeat, or earlier to fence a lease that ran out.
      const absl::Time now = absl::Now();
      if (next_heartbeat_ == absl::InfinitePast()) next_heartbeat_ = now + interval;
      const absl::Time until = std::min(next_heartbeat_, EarliestFenceLocked());
      if (mu_.AwaitWithTimeout(absl::Condition(&wake),
                               std::max(until - now, absl::ZeroDuration()))) {
        continue;
      }
      FenceLocked(absl::Now());
      if (absl::Now() < next_heartbeat_) continue;
      next_heartbeat_ = absl::Now() + interval;
    }
    HeartbeatOnce();
  }
}

absl::Time Agent::EarliestFenceLocked() const {
  absl::Time earliest = absl::InfiniteFuture();
  for (const auto& [key, job] : jobs_) {
    if (job.revoked) continue;
    earliest = std::min(earliest, job.renewed_at + lease_timeout_ * 3 / 4);
  }
  return earliest;
}

void Agent::FenceLocked(absl::Time now) {
  for (auto& [key, job] : jobs_) {
    if (job.revoked || now < job.renewed_at + lease_timeout_ * 3 / 4) continue;
    RIB_LOG(WARNING) << "could not renew the lease of job " << job.job_id << " attempt "
                     << job.attempt << " for " << absl::FormatDuration(now - job.renewed_at)
                     << " (lease timeout " << absl::FormatDuration(lease_timeout_)
                     << "): killing its ranks before the coordinator hands it out again";
    job.revoked = true;
    job.fenced = true;
    job.running->Kill();
  }
}

void Agent::HeartbeatOnce() {
  v1::HeartbeatRequest req;
  absl::Duration deadline = options_.rpc_timeout;
  const absl::Time sent = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    // A heartbeat that answers after a lease must be fenced is no use to it.
    deadline = std::min(deadline, std::max(EarliestFenceLocked() - sent,
                                           absl::Milliseconds(100)));
    if (worker_id_.empty()) return;
    req.set_worker_id(worker_id_);
    for (const auto& [key, job] : jobs_) {
      if (job.revoked) continue;
      v1::LeaseRef* lease = req.add_leases();
      lease->set_job_id(job.job_id);
      lease->set_attempt(job.attempt);
    }
    req.set_free_devices(static_cast<int>(free_slots_.size()));
  }
  grpc::ClientContext ctx;
  PrepareCall(&ctx, deadline);
  v1::HeartbeatResponse resp;
  absl::Status s = FromGrpcStatus(stub_->Heartbeat(&ctx, req, &resp));
  if (s.code() == absl::StatusCode::kNotFound) {
    absl::MutexLock lock(&mu_);
    RIB_LOG(WARNING) << "the coordinator no longer knows worker " << worker_id_
                     << "; killing its jobs and registering anew";
    KillAllLocked("the coordinator forgot this worker");
    need_register_ = true;
    return;
  }
  if (!s.ok()) {
    LogCallFailure("heartbeat", s);
    // Try again soon rather than a whole interval later: when the coordinator (or its
    // database) comes back, the leases are renewed at once instead of being fenced.
    absl::MutexLock lock(&mu_);
    next_heartbeat_ = std::min(next_heartbeat_, absl::Now() + options_.retry_backoff);
    return;
  }
  bool drain = resp.drain();
  {
    absl::MutexLock lock(&mu_);
    // Every lease sent and not revoked was renewed (as of when it was sent).
    for (auto& [key, job] : jobs_) {
      if (job.revoked) continue;
      bool sent_it = false, revoked_it = false;
      for (const v1::LeaseRef& l : req.leases()) {
        sent_it = sent_it || (l.job_id() == job.job_id && l.attempt() == job.attempt);
      }
      for (const v1::LeaseRef& r : resp.revoked()) {
        revoked_it = revoked_it || (r.job_id() == job.job_id &&
                                    (r.attempt() == 0 || r.attempt() == job.attempt));
      }
      if (sent_it && !revoked_it) job.renewed_at = sent;
    }
    for (const v1::LeaseRef& revoked : resp.revoked()) {
      for (auto& [key, job] : jobs_) {
        if (job.revoked || job.job_id != revoked.job_id()) continue;
        if (revoked.attempt() != 0 && revoked.attempt() != job.attempt) continue;
        job.revoked = true;  // no longer heartbeated either way
        if (job.running->Finishing()) {
          // The finished report ended the lease (the race of a heartbeat sent beside
          // it): the ranks are ending on their own and their outcome is reported.
          RIB_LOG(INFO) << "lease of job " << job.job_id << " attempt " << job.attempt
                        << " ended by its finished report";
          continue;
        }
        RIB_LOG(WARNING) << "lease of job " << job.job_id << " attempt " << job.attempt
                         << " revoked; killing its ranks";
        job.running->Kill();
      }
    }
  }
  if (drain) Drain();
}

void Agent::AcquireLoop() {
  while (true) {
    v1::AcquireJobRequest req;
    int64_t generation;
    grpc::ClientContext ctx;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return draining_ || (!need_register_ && !free_slots_.empty());
      };
      mu_.Await(absl::Condition(&ready));
      if (draining_) return;
      req.set_worker_id(worker_id_);
      req.set_free_devices(static_cast<int>(free_slots_.size()));
      req.set_device_kind(options_.devices.kind);
      req.set_wait_ms(static_cast<int>(absl::ToInt64Milliseconds(options_.acquire_wait)));
      // This loop asks for one lease at a time and starts (or reports) each before it
      // asks again, so a lease of ours the coordinator does not see here was lost on
      // the way to us: it requeues that job (orphaned, not failed).
      req.set_lists_held(true);
      for (const auto& [key, job] : jobs_) {
        v1::LeaseRef* held = req.add_held();
        held->set_job_id(job.job_id);
        held->set_attempt(job.attempt);
      }
      for (const auto& [job_id, attempt] : reporting_) {
        v1::LeaseRef* held = req.add_held();
        held->set_job_id(job_id);
        held->set_attempt(attempt);
      }
      generation = generation_;
      PrepareCall(&ctx, options_.acquire_wait + options_.rpc_timeout);
      acquire_context_ = &ctx;
    }
    v1::AcquireJobResponse resp;
    absl::Status s = FromGrpcStatus(stub_->AcquireJob(&ctx, req, &resp));
    bool draining;
    {
      absl::MutexLock lock(&mu_);
      acquire_context_ = nullptr;
      draining = draining_;
      if (s.code() == absl::StatusCode::kNotFound && generation == generation_) {
        need_register_ = true;
      }
    }
    ReapFinishedThreads();
    if (!s.ok()) {
      if (draining) return;
      if (s.code() != absl::StatusCode::kNotFound) {
        LogCallFailure("AcquireJob", s);
      }
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return draining_; };
      mu_.AwaitWithTimeout(absl::Condition(&stop), options_.retry_backoff);
      continue;
    }
    if (!resp.has_job()) continue;
    if (draining) {
      // Leased while the drain began: give the lease back at once.
      ReportFailure({resp.job_id(), resp.attempt(), resp.lease_secret()},
                    absl::UnavailableError("worker drained"),
                    /*released=*/true);
      return;
    }
    StartJob(resp, generation);
  }
}

void Agent::StartJob(const v1::AcquireJobResponse& lease, int64_t generation) {
  const AttemptLease leased{lease.job_id(), lease.attempt(), lease.lease_secret()};
  absl::StatusOr<JobSpec> spec = convert::JobSpecFromProto(lease.spec());
  if (!spec.ok()) {
    ReportFailure(leased, spec.status());
    return;
  }
  JobAssignment assignment;
  assignment.job_id = lease.job_id();
  assignment.attempt = lease.attempt();
  assignment.hash = lease.hash();
  assignment.spec = *std::move(spec);
  lease.spec().SerializeToString(&assignment.spec_proto);
  assignment.resume_checkpoint = lease.resume_checkpoint();
  assignment.device_kind = options_.devices.kind;
  // Opened on the first event; the executor forwards the ranks' events to it.
  EventStreamOptions stream_options;
  stream_options.token = options_.token;
  assignment.events = std::make_shared<EventStream>(channel_, leased, stream_options);
  LogUploaderOptions log_options;
  log_options.token = options_.token;
  assignment.logs = std::make_shared<LogUploader>(channel_, leased, log_options);
  const int needed = std::max(1, assignment.spec.devices);
  std::string no_room;
  {
    absl::MutexLock lock(&mu_);
    if (needed > static_cast<int>(free_slots_.size())) {
      no_room = absl::StrCat("job needs ", needed, " ", options_.devices.kind,
                             " devices; this worker has ", free_slots_.size(), " free");
    } else {
      assignment.device_ids.assign(free_slots_.begin(), free_slots_.begin() + needed);
      free_slots_.erase(free_slots_.begin(), free_slots_.begin() + needed);
    }
  }
  if (!no_room.empty()) {
    ReportFailure(leased, absl::UnavailableError(no_room),
                  /*released=*/true);
    return;
  }
  RIB_LOG(INFO) << "leased job " << assignment.job_id << " attempt " << assignment.attempt
                << " (" << assignment.spec.model.name << "/" << assignment.spec.method.name
                << "/" << assignment.spec.finetune_dataset << ") on " << needed << " "
                << assignment.device_kind << " slot(s) ["
                << absl::StrJoin(assignment.device_ids, ",") << "]";
  absl::StatusOr<std::unique_ptr<RunningJob>> running = executor_->Start(assignment);
  if (!running.ok()) {
    {
      absl::MutexLock lock(&mu_);
      free_slots_.insert(free_slots_.end(), assignment.device_ids.begin(),
                         assignment.device_ids.end());
      std::sort(free_slots_.begin(), free_slots_.end());
    }
    ReportFailure(leased, absl::UnavailableError(absl::StrCat(
                              "cannot start the job: ", running.status().message())));
    return;
  }
  absl::MutexLock lock(&mu_);
  const uint64_t key = next_key_++;
  Job& job = jobs_[key];
  job.job_id = assignment.job_id;
  job.attempt = assignment.attempt;
  job.lease_secret = leased.secret;
  job.renewed_at = absl::Now();  // AcquireJob set the lease's deadline moments ago
  job.leased_at = job.renewed_at;
  job.slots = assignment.device_ids;
  job.running = *std::move(running);
  if (generation != generation_ || shutdown_) {
    // The coordinator forgot us while the job was starting: the lease is gone.
    job.revoked = true;
    job.running->Kill();
  } else if (draining_) {
    job.running->Drain();
  }
  job.supervisor = std::thread([this, key] { Supervise(key); });
}

void Agent::Supervise(uint64_t key) {
  RunningJob* running;
  {
    absl::MutexLock lock(&mu_);
    running = jobs_.at(key).running.get();
  }
  JobOutcome outcome = running->Wait();
  AttemptLease lease;
  bool revoked, draining;
  {
    absl::MutexLock lock(&mu_);
    Job& job = jobs_.at(key);
    lease = {job.job_id, job.attempt, job.lease_secret};
    revoked = job.revoked;
    draining = draining_;
    const char* how = job.fenced                      ? "fenced"
                      : outcome.finished_reported     ? "reported"
                      : revoked                       ? "revoked"
                      : (outcome.drained || draining) ? "drained"
                                                      : "failed";
    ++job_exits_[how];
    job_durations_.try_emplace(how, JobDurationBuckets())
        .first->second.Observe(absl::ToDoubleSeconds(absl::Now() - job.leased_at));
    free_slots_.insert(free_slots_.end(), job.slots.begin(), job.slots.end());
    std::sort(free_slots_.begin(), free_slots_.end());
    finished_threads_.push_back(std::move(job.supervisor));
    // Destroy the RunningJob outside the lock would be nicer, but its destructor only
    // releases process handles of exited processes.
    jobs_.erase(key);
    if (!revoked && !outcome.finished_reported) {
      reporting_.insert({lease.job_id, lease.attempt});
    }
  }
  // Reported below (or nothing to report): no longer held once this returns.
  absl::Cleanup reported = [&] {
    absl::MutexLock lock(&mu_);
    auto it = reporting_.find({lease.job_id, lease.attempt});
    if (it != reporting_.end()) reporting_.erase(it);
  };
  if (outcome.finished_reported) {
    RIB_LOG(INFO) << "job " << lease.job_id << " attempt " << lease.attempt << " finished"
                  << (outcome.status.ok() ? "" : " (ranks ended with an error)");
    return;
  }
  if (revoked) {
    RIB_LOG(INFO) << "job " << lease.job_id << " attempt " << lease.attempt
                  << " stopped after its lease was revoked";
    return;
  }
  if (outcome.drained || draining) {
    ReportFailure(lease,
                  absl::UnavailableError(draining ? "worker drained"
                                                  : "the ranks were stopped (SIGTERM) "
                                                    "after checkpointing"),
                  /*released=*/true);
    return;
  }
  std::string error = outcome.status.ok()
                          ? std::string("the ranks exited without reporting a result")
                          : std::string(outcome.status.message());
  // The ranks died without a word (killed, out of memory, a crash): worth another try.
  ReportFailure(lease, absl::UnavailableError(error));
}

void Agent::ReportFailure(const AttemptLease& lease, const absl::Status& why,
                          bool released) {
  RIB_LOG(WARNING) << "job " << lease.job_id << " attempt " << lease.attempt
                   << (released ? " released: " : " failed: ") << why;
  absl::Status s =
      EventStream::ReportFailed(channel_, lease, options_.token, why, released);
  if (!s.ok()) {
    const std::string refused = DescribeRefusal(s, !options_.token.empty());
    RIB_LOG(WARNING) << "could not report the end of job " << lease.job_id << " attempt "
                     << lease.attempt << ": " << s << (refused.empty() ? "" : " -- ")
                     << refused;
  }
}

void Agent::ReapFinishedThreads() {
  std::vector<std::thread> done;
  {
    absl::MutexLock lock(&mu_);
    done.swap(finished_threads_);
  }
  for (std::thread& t : done) t.join();
}

}  // namespace rib::agent
