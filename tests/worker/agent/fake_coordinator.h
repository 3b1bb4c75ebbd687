// In-process fakes for the agent tests: a WorkerApi server (real gRPC, port 0) with an
// in-memory job queue, and a JobExecutor whose jobs end when the test says so.
#ifndef RIB_TESTS_WORKER_AGENT_FAKE_COORDINATOR_H_
#define RIB_TESTS_WORKER_AGENT_FAKE_COORDINATOR_H_

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "rib/v1/worker.grpc.pb.h"
#include "worker/agent/job_executor.h"

namespace rib::agent::testing {

// Thread-safe.
class FakeCoordinator final : public v1::WorkerApi::Service {
 public:
  // Plaintext unless `credentials` says otherwise (tls::MakeServerCredentials).
  explicit FakeCoordinator(int heartbeat_interval_ms = 100,
                           std::shared_ptr<grpc::ServerCredentials> credentials =
                               grpc::InsecureServerCredentials())
      : heartbeat_interval_ms_(heartbeat_interval_ms) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeCoordinator() override { server_->Shutdown(absl::ToChronoTime(absl::Now())); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  // Queues a job needing `devices` devices; its next hand-out gets the next attempt.
  void AddJob(const std::string& id, int devices = 1) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(id);
    devices_[id] = devices;
  }
  // Forgets every worker: their next heartbeat gets NOT_FOUND.
  void ForgetWorkers() {
    absl::MutexLock lock(&mu_);
    known_.clear();
  }
  // The next heartbeat of the job's worker lists this lease as revoked.
  void Revoke(const std::string& job_id) {
    absl::MutexLock lock(&mu_);
    revoked_.insert(job_id);
  }
  // Hands out jobs whatever the worker's free_devices (a misbehaving coordinator).
  void SetIgnoreFreeDevices(bool ignore) {
    absl::MutexLock lock(&mu_);
    ignore_free_devices_ = ignore;
  }
  void SetDrain(bool drain) {
    absl::MutexLock lock(&mu_);
    drain_ = drain;
  }
  // Makes `attempt` the job's current attempt (reports of others are stale).
  void SetAttempt(const std::string& job_id, int attempt) {
    absl::MutexLock lock(&mu_);
    attempts_[job_id] = attempt;
  }
  int attempt(const std::string& job_id) const {
    absl::MutexLock lock(&mu_);
    auto it = attempts_.find(job_id);
    return it == attempts_.end() ? 0 : it->second;
  }

  // The lease secret AcquireJob hands out for an attempt (canned: a test can predict
  // it; the fake checks no secrets, it only records what the events carry).
  static std::string SecretOf(const std::string& job_id, int attempt) {
    return absl::StrCat("secret-", job_id, "-", attempt);
  }
  // Heartbeats are answered UNAVAILABLE (the coordinator unreachable for them) until
  // reset; other calls still work.
  void SetHeartbeatsFail(bool fail) {
    absl::MutexLock lock(&mu_);
    heartbeats_fail_ = fail;
  }
  // Every call is answered with `status` (e.g. UNAUTHENTICATED) until reset with OK.
  void SetRefuseAll(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    refuse_all_ = std::move(status);
  }
  // (method, "authorization" metadata or "") of every call, in order.
  std::vector<std::pair<std::string, std::string>> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

  std::vector<v1::RegisterRequest> registrations() const {
    absl::MutexLock lock(&mu_);
    return registrations_;
  }
  std::vector<v1::HeartbeatRequest> heartbeats() const {
    absl::MutexLock lock(&mu_);
    return heartbeats_;
  }
  std::vector<v1::AcquireJobRequest> acquires() const {
    absl::MutexLock lock(&mu_);
    return acquires_;
  }
  // Accepted events.
  std::vector<v1::JobEvent> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  int rejected_reports() const {
    absl::MutexLock lock(&mu_);
    return rejected_;
  }
  std::vector<v1::JobFinished> finished(const std::string& job_id) const {
    std::vector<v1::JobFinished> out;
    for (const auto& e : events()) {
      if (e.job_id() == job_id && e.has_finished()) out.push_back(e.finished());
    }
    return out;
  }

  grpc::Status Register(grpc::ServerContext* ctx, const v1::RegisterRequest* req,
                        v1::RegisterResponse* resp) override {
    absl::MutexLock lock(&mu_);
    if (!RecordCall(ctx, "Register")) return refuse_all_;
    registrations_.push_back(*req);
    std::string id = absl::StrCat("w", registrations_.size());
    known_.insert(id);
    resp->set_worker_id(id);
    resp->set_heartbeat_interval_ms(heartbeat_interval_ms_);
    resp->set_lease_timeout_ms(heartbeat_interval_ms_ * 5);
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext* ctx, const v1::HeartbeatRequest* req,
                         v1::HeartbeatResponse* resp) override {
    absl::MutexLock lock(&mu_);
    if (!RecordCall(ctx, "Heartbeat")) return refuse_all_;
    if (heartbeats_fail_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "down");
    heartbeats_.push_back(*req);
    if (known_.count(req->worker_id()) == 0) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown worker");
    }
    for (const auto& lease : req->leases()) {
      if (revoked_.count(lease.job_id()) > 0) *resp->add_revoked() = lease;
    }
    resp->set_drain(drain_);
    return grpc::Status::OK;
  }

  grpc::Status AcquireJob(grpc::ServerContext* ctx, const v1::AcquireJobRequest* req,
                          v1::AcquireJobResponse* resp) override {
    absl::MutexLock lock(&mu_);
    if (!RecordCall(ctx, "AcquireJob")) return refuse_all_;
    acquires_.push_back(*req);
    if (known_.count(req->worker_id()) == 0) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown worker");
    }
    const absl::Time until = absl::Now() + absl::Milliseconds(req->wait_ms());
    while (absl::Now() < until && !ctx->IsCancelled()) {
      for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        if (!ignore_free_devices_ && devices_[*it] > req->free_devices()) continue;
        const std::string id = *it;
        queue_.erase(it);
        resp->set_has_job(true);
        resp->set_job_id(id);
        resp->set_attempt(++attempts_[id]);
        resp->set_lease_secret(SecretOf(id, resp->attempt()));
        resp->set_hash(absl::StrCat("hash-", id));
        v1::JobSpec* spec = resp->mutable_spec();
        spec->mutable_model()->set_arch("fmnist_vit_tiny");
        spec->mutable_model()->set_name("tiny");
        spec->mutable_method()->set_kind("ft");
        spec->set_finetune_dataset("fmnist-v2");
        spec->add_eval_datasets("fmnist-val");
        spec->set_devices(devices_[id]);
        return grpc::Status::OK;
      }
      mu_.AwaitWithTimeout(absl::Condition(&queue_changed_), absl::Milliseconds(20));
    }
    return grpc::Status::OK;  // has_job = false
  }

  grpc::Status ReportResults(grpc::ServerContext* ctx,
                             grpc::ServerReader<v1::JobEvent>* reader,
                             v1::ReportResultsResponse* resp) override {
    {
      absl::MutexLock lock(&mu_);
      if (!RecordCall(ctx, "ReportResults")) return refuse_all_;
    }
    v1::JobEvent event;
    int accepted = 0;
    while (reader->Read(&event)) {
      absl::MutexLock lock(&mu_);
      if (attempts_[event.job_id()] != event.attempt()) {
        ++rejected_;
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            absl::StrCat("stale attempt ", event.attempt(), " of job ",
                                         event.job_id()));
      }
      events_.push_back(event);
      ++accepted;
    }
    resp->set_events_accepted(accepted);
    return grpc::Status::OK;
  }

 private:
  // Records the call; false when it is to be refused with refuse_all_.
  bool RecordCall(grpc::ServerContext* ctx, const std::string& method)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto auth = ctx->client_metadata().find("authorization");
    calls_.emplace_back(method,
                        auth == ctx->client_metadata().end()
                            ? std::string()
                            : std::string(auth->second.data(), auth->second.size()));
    return refuse_all_.ok();
  }

  const int heartbeat_interval_ms_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;

  mutable absl::Mutex mu_;
  bool queue_changed_ = false;  // never set: AcquireJob polls every 20 ms
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> devices_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> attempts_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> known_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> revoked_ ABSL_GUARDED_BY(mu_);
  bool drain_ ABSL_GUARDED_BY(mu_) = false;
  bool heartbeats_fail_ ABSL_GUARDED_BY(mu_) = false;
  bool ignore_free_devices_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<v1::RegisterRequest> registrations_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::HeartbeatRequest> heartbeats_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::AcquireJobRequest> acquires_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::JobEvent> events_ ABSL_GUARDED_BY(mu_);
  int rejected_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::Status refuse_all_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::string>> calls_ ABSL_GUARDED_BY(mu_);
};

// A JobExecutor whose jobs run until the test ends them (Finish), or the agent kills or
// drains them. Thread-safe.
class FakeExecutor : public JobExecutor {
 public:
  enum class End { kRunning, kKilled, kDrained, kFinished };

  struct Record {
    JobAssignment assignment;
    End end = End::kRunning;
    JobOutcome outcome;
    bool finishing = false;  // what RunningJob::Finishing() answers
  };

  absl::StatusOr<std::unique_ptr<RunningJob>> Start(const JobAssignment& job) override {
    absl::MutexLock lock(&mu_);
    const int index = static_cast<int>(records_.size());
    records_.push_back(Record{job});
    int busy = 0;
    for (const Record& r : records_) {
      if (r.end == End::kRunning) busy += static_cast<int>(r.assignment.device_ids.size());
    }
    max_busy_ = std::max(max_busy_, busy);
    return std::unique_ptr<RunningJob>(new Job(this, index));
  }

  // Ends job number `index` (in start order) with `outcome`.
  void Finish(int index, JobOutcome outcome) {
    absl::MutexLock lock(&mu_);
    Record& r = records_.at(index);
    if (r.end != End::kRunning) return;
    r.end = End::kFinished;
    r.outcome = std::move(outcome);
  }
  // Job `index` has handed its `finished` event to the coordinator (still running).
  void MarkFinishing(int index) {
    absl::MutexLock lock(&mu_);
    records_.at(index).finishing = true;
  }
  // Waits until `n` jobs have been started; false on timeout.
  bool WaitForStarts(int n, absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return static_cast<int>(records_.size()) >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  }
  // Waits until job `index` has ended; returns how.
  End WaitForEnd(int index, absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto ended = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return index < static_cast<int>(records_.size()) &&
             records_[index].end != End::kRunning;
    };
    mu_.AwaitWithTimeout(absl::Condition(&ended), timeout);
    return index < static_cast<int>(records_.size()) ? records_[index].end
                                                     : End::kRunning;
  }
  Record record(int index) const {
    absl::MutexLock lock(&mu_);
    return records_.at(index);
  }
  int starts() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(records_.size());
  }
  int max_busy_devices() const {
    absl::MutexLock lock(&mu_);
    return max_busy_;
  }

 private:
  class Job : public RunningJob {
   public:
    Job(FakeExecutor* owner, int index) : owner_(owner), index_(index) {}
    JobOutcome Wait() override {
      absl::MutexLock lock(&owner_->mu_);
      auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(owner_->mu_) {
        return owner_->records_[index_].end != End::kRunning;
      };
      owner_->mu_.Await(absl::Condition(&ended));
      const Record& r = owner_->records_[index_];
      switch (r.end) {
        case End::kKilled: {
          JobOutcome o;
          o.status = absl::AbortedError("killed");
          return o;
        }
        case End::kDrained: {
          JobOutcome o;
          o.drained = true;
          return o;
        }
        default:
          return r.outcome;
      }
    }
    void Kill() override { SetEnd(End::kKilled); }
    void Drain() override { SetEnd(End::kDrained); }
    bool Finishing() const override {
      absl::MutexLock lock(&owner_->mu_);
      return owner_->records_[index_].finishing;
    }

   private:
    void SetEnd(End end) {
      absl::MutexLock lock(&owner_->mu_);
      Record& r = owner_->records_[index_];
      if (r.end == End::kRunning) r.end = end;
    }
    FakeExecutor* owner_;
    int index_;
  };

  mutable absl::Mutex mu_;
  std::vector<Record> records_ ABSL_GUARDED_BY(mu_);
  int max_busy_ ABSL_GUARDED_BY(mu_) = 0;
};

// Polls `pred` every 10 ms until it holds or `timeout` passes.
template <typename Pred>
bool Eventually(Pred pred, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time until = absl::Now() + timeout;
  while (absl::Now() < until) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return pred();
}

}  // namespace rib::agent::testing

#endif  // RIB_TESTS_WORKER_AGENT_FAKE_COORDINATOR_H_
