// An in-process rib.v1.Coordinator for the CLI tests: canned replies, recorded
// requests, and a real gRPC server on 127.0.0.1:0. Thread-safe: the server's threads
// and the test share state under mu_.
#ifndef RIB_TESTS_CLIENT_FAKE_COORDINATOR_H_
#define RIB_TESTS_CLIENT_FAKE_COORDINATOR_H_

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "client/commands.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "rib/v1/coordinator.grpc.pb.h"

namespace rib::client::testing {

namespace v1 = ::rib::v1;

class FakeCoordinator final : public v1::Coordinator::Service {
 public:
  // ---- canned replies (set before the call) ----
  void SetError(const std::string& method, grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    errors_[method] = std::move(status);
  }
  void SetSubmitResponse(v1::SubmitSweepResponse r) {
    Set(&submit_response_, std::move(r));
  }
  void SetSweep(v1::Sweep s) { Set(&sweep_, std::move(s)); }
  void SetSweeps(v1::ListSweepsResponse s) { Set(&sweeps_, std::move(s)); }
  void SetJobs(v1::ListJobsResponse j) { Set(&jobs_, std::move(j)); }
  void SetMatrix(v1::GetMatrixResponse m) { Set(&matrix_, std::move(m)); }
  void SetWorkers(v1::ListWorkersResponse w) { Set(&workers_, std::move(w)); }
  void SetWhoAmI(v1::WhoAmIResponse w) { Set(&whoami_, std::move(w)); }
  void SetCreateToken(v1::CreateTokenResponse t) { Set(&create_token_, std::move(t)); }
  void SetTokens(v1::ListTokensResponse t) { Set(&tokens_, std::move(t)); }
  void SetQuotas(v1::ListQuotasResponse q) { Set(&quotas_, std::move(q)); }
  void SetJobDetail(v1::JobDetail d) { Set(&job_detail_, std::move(d)); }
  void SetPlan(v1::SweepPlan p) { Set(&plan_, std::move(p)); }
  // The k-th GetAttemptLog call answers logs[k] (the last one once they run out).
  void SetAttemptLogs(std::vector<v1::AttemptLog> logs) {
    Set(&attempt_logs_, std::move(logs));
  }
  // Every WatchSweep call streams these events, then ends.
  void SetEvents(std::vector<v1::SweepEvent> e) { SetEventBatches({std::move(e)}); }
  // The k-th WatchSweep call streams batch k (the last batch once they run out).
  void SetEventBatches(std::vector<std::vector<v1::SweepEvent>> b) {
    std::lock_guard<std::mutex> lock(mu_);
    event_batches_ = std::move(b);
    watch_calls_ = 0;
  }

  // ---- what the client sent ----
  v1::SubmitSweepRequest last_submit() { return Get(last_submit_); }
  v1::ListJobsRequest last_list_jobs() { return Get(last_list_jobs_); }
  v1::GetMatrixRequest last_matrix() { return Get(last_matrix_); }
  v1::WatchSweepRequest last_watch() { return Get(last_watch_); }
  std::string last_sweep_id() { return Get(last_sweep_id_); }
  std::string last_worker_id() { return Get(last_worker_id_); }
  v1::SetSweepPriorityRequest last_priority() { return Get(last_priority_); }
  v1::CreateTokenRequest last_create_token() { return Get(last_create_token_); }
  v1::ListTokensRequest last_list_tokens() { return Get(last_list_tokens_); }
  std::string last_revoked() { return Get(last_revoked_); }
  v1::SetQuotaRequest last_set_quota() { return Get(last_set_quota_); }
  std::vector<v1::GetAttemptLogRequest> log_requests() { return Get(log_requests_); }
  // The "authorization" metadata of every call, in order ("" when absent).
  std::vector<std::string> authorizations() { return Get(authorizations_); }
  std::vector<std::string> calls() { return Get(calls_); }
  // The "x-rib-user" metadata of every call ("" when absent).
  std::vector<std::string> users() { return Get(users_); }

  grpc::Status SubmitSweep(grpc::ServerContext* ctx, const v1::SubmitSweepRequest* req,
                           v1::SubmitSweepResponse* resp) override {
    return Handle(ctx, "SubmitSweep", [&] {
      last_submit_ = *req;
      *resp = submit_response_;
    });
  }
  grpc::Status GetSweep(grpc::ServerContext* ctx, const v1::GetSweepRequest* req,
                        v1::Sweep* resp) override {
    return Handle(ctx, "GetSweep", [&] {
      last_sweep_id_ = req->sweep_id();
      *resp = sweep_;
    });
  }
  grpc::Status ListSweeps(grpc::ServerContext* ctx, const v1::ListSweepsRequest*,
                          v1::ListSweepsResponse* resp) override {
    return Handle(ctx, "ListSweeps", [&] { *resp = sweeps_; });
  }
  grpc::Status CancelSweep(grpc::ServerContext* ctx, const v1::CancelSweepRequest* req,
                           v1::Sweep* resp) override {
    return Handle(ctx, "CancelSweep", [&] {
      last_sweep_id_ = req->sweep_id();
      *resp = sweep_;
      resp->set_state(v1::SWEEP_STATE_CANCELLED);
    });
  }
  grpc::Status RetrySweep(grpc::ServerContext* ctx, const v1::RetrySweepRequest* req,
                          v1::Sweep* resp) override {
    return Handle(ctx, "RetrySweep", [&] {
      last_sweep_id_ = req->sweep_id();
      *resp = sweep_;
      resp->set_state(v1::SWEEP_STATE_ACTIVE);
    });
  }
  grpc::Status ListJobs(grpc::ServerContext* ctx, const v1::ListJobsRequest* req,
                        v1::ListJobsResponse* resp) override {
    return Handle(ctx, "ListJobs", [&] {
      last_list_jobs_ = *req;
      *resp = jobs_;
    });
  }
  grpc::Status GetJob(grpc::ServerContext* ctx, const v1::GetJobRequest*,
                      v1::Job*) override {
    return Handle(ctx, "GetJob", [] {});
  }
  grpc::Status DescribeJob(grpc::ServerContext* ctx, const v1::DescribeJobRequest*,
                           v1::JobDetail* resp) override {
    return Handle(ctx, "DescribeJob", [&] { *resp = job_detail_; });
  }
  grpc::Status PlanSweep(grpc::ServerContext* ctx, const v1::SubmitSweepRequest* req,
                         v1::SweepPlan* resp) override {
    return Handle(ctx, "PlanSweep", [&] {
      last_submit_ = *req;
      *resp = plan_;
    });
  }
  grpc::Status GetAttemptLog(grpc::ServerContext* ctx, const v1::GetAttemptLogRequest* req,
                             v1::AttemptLog* resp) override {
    return Handle(ctx, "GetAttemptLog", [&] {
      if (!attempt_logs_.empty()) {
        *resp = attempt_logs_[std::min(log_requests_.size(), attempt_logs_.size() - 1)];
      }
      log_requests_.push_back(*req);
    });
  }
  grpc::Status WatchSweep(grpc::ServerContext* ctx, const v1::WatchSweepRequest* req,
                          grpc::ServerWriter<v1::SweepEvent>* writer) override {
    std::vector<v1::SweepEvent> events;
    grpc::Status status = Handle(ctx, "WatchSweep", [&] {
      last_watch_ = *req;
      if (!event_batches_.empty()) {
        events = event_batches_[std::min(watch_calls_, event_batches_.size() - 1)];
      }
      ++watch_calls_;
    });
    if (!status.ok()) return status;
    for (const v1::SweepEvent& e : events) {
      if (!writer->Write(e)) break;
    }
    return grpc::Status::OK;
  }
  grpc::Status GetMatrix(grpc::ServerContext* ctx, const v1::GetMatrixRequest* req,
                         v1::GetMatrixResponse* resp) override {
    return Handle(ctx, "GetMatrix", [&] {
      last_matrix_ = *req;
      *resp = matrix_;
    });
  }
  grpc::Status ListWorkers(grpc::ServerContext* ctx, const v1::ListWorkersRequest*,
                           v1::ListWorkersResponse* resp) override {
    return Handle(ctx, "ListWorkers", [&] { *resp = workers_; });
  }
  grpc::Status UndrainWorker(grpc::ServerContext* ctx,
                             const v1::UndrainWorkerRequest* req,
                             v1::Worker* resp) override {
    return Handle(ctx, "UndrainWorker", [&] {
      last_worker_id_ = req->worker_id();
      resp->set_id(req->worker_id());
      resp->set_state(v1::WORKER_STATE_ACTIVE);
      resp->set_free_devices(4);
    });
  }
  grpc::Status SetSweepPriority(grpc::ServerContext* ctx,
                                const v1::SetSweepPriorityRequest* req,
                                v1::Sweep* resp) override {
    return Handle(ctx, "SetSweepPriority", [&] {
      last_priority_ = *req;
      *resp = sweep_;
      resp->set_id(req->sweep_id());
      resp->set_priority(req->priority());
    });
  }
  grpc::Status WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest*,
                      v1::WhoAmIResponse* resp) override {
    return Handle(ctx, "WhoAmI", [&] { *resp = whoami_; });
  }
  grpc::Status CreateToken(grpc::ServerContext* ctx, const v1::CreateTokenRequest* req,
                           v1::CreateTokenResponse* resp) override {
    return Handle(ctx, "CreateToken", [&] {
      last_create_token_ = *req;
      *resp = create_token_;
    });
  }
  grpc::Status ListTokens(grpc::ServerContext* ctx, const v1::ListTokensRequest* req,
                          v1::ListTokensResponse* resp) override {
    return Handle(ctx, "ListTokens", [&] {
      last_list_tokens_ = *req;
      *resp = tokens_;
    });
  }
  grpc::Status RevokeToken(grpc::ServerContext* ctx, const v1::RevokeTokenRequest* req,
                           v1::TokenInfo* resp) override {
    return Handle(ctx, "RevokeToken", [&] {
      last_revoked_ = req->token_id();
      resp->set_id(req->token_id());
      resp->set_user("bob");
      resp->set_role(v1::ROLE_USER);
      resp->set_revoked(true);
    });
  }
  // Echoes the request as the stored quota, with 2 devices in use.
  grpc::Status SetQuota(grpc::ServerContext* ctx, const v1::SetQuotaRequest* req,
                        v1::Quota* resp) override {
    return Handle(ctx, "SetQuota", [&] {
      last_set_quota_ = *req;
      resp->set_user(req->user());
      resp->set_devices(req->unlimited() ? 0 : req->devices());
      resp->set_unlimited(req->unlimited());
      resp->set_devices_in_use(2);
    });
  }
  grpc::Status ListQuotas(grpc::ServerContext* ctx, const v1::ListQuotasRequest*,
                          v1::ListQuotasResponse* resp) override {
    return Handle(ctx, "ListQuotas", [&] { *resp = quotas_; });
  }
  grpc::Status DrainWorker(grpc::ServerContext* ctx, const v1::DrainWorkerRequest* req,
                           v1::Worker* resp) override {
    return Handle(ctx, "DrainWorker", [&] {
      resp->set_id(req->worker_id());
      resp->set_state(v1::WORKER_STATE_DRAINING);
      resp->add_running_jobs("job-1");
    });
  }

 private:
  template <typename T>
  void Set(T* field, T value) {
    std::lock_guard<std::mutex> lock(mu_);
    *field = std::move(value);
  }
  template <typename T>
  T Get(const T& field) {
    std::lock_guard<std::mutex> lock(mu_);
    return field;
  }
  template <typename F>
  grpc::Status Handle(grpc::ServerContext* ctx, const std::string& method, F&& body) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(method);
    auto auth = ctx->client_metadata().find("authorization");
    authorizations_.push_back(
        auth == ctx->client_metadata().end()
            ? ""
            : std::string(auth->second.data(), auth->second.size()));
    auto user = ctx->client_metadata().find("x-rib-user");
    users_.push_back(user == ctx->client_metadata().end()
                         ? ""
                         : std::string(user->second.data(), user->second.size()));
    auto err = errors_.find(method);
    if (err != errors_.end()) return err->second;
    body();
    return grpc::Status::OK;
  }

  std::mutex mu_;
  std::map<std::string, grpc::Status> errors_;
  v1::SubmitSweepResponse submit_response_;
  v1::Sweep sweep_;
  v1::ListSweepsResponse sweeps_;
  v1::ListJobsResponse jobs_;
  v1::GetMatrixResponse matrix_;
  v1::ListWorkersResponse workers_;
  v1::WhoAmIResponse whoami_;
  v1::CreateTokenResponse create_token_;
  v1::ListTokensResponse tokens_;
  v1::ListQuotasResponse quotas_;
  v1::JobDetail job_detail_;
  v1::SweepPlan plan_;
  std::vector<v1::AttemptLog> attempt_logs_;
  std::vector<v1::GetAttemptLogRequest> log_requests_;
  std::string last_worker_id_;
  v1::SetSweepPriorityRequest last_priority_;
  v1::CreateTokenRequest last_create_token_;
  v1::ListTokensRequest last_list_tokens_;
  std::string last_revoked_;
  v1::SetQuotaRequest last_set_quota_;
  std::vector<std::vector<v1::SweepEvent>> event_batches_;
  size_t watch_calls_ = 0;
  v1::SubmitSweepRequest last_submit_;
  v1::ListJobsRequest last_list_jobs_;
  v1::GetMatrixRequest last_matrix_;
  v1::WatchSweepRequest last_watch_;
  std::string last_sweep_id_;
  std::vector<std::string> authorizations_;
  std::vector<std::string> users_;
  std::vector<std::string> calls_;
};

// The fake on a real gRPC server listening on 127.0.0.1:<ephemeral port>.
class FakeServer {
 public:
  // Plaintext by default; TLS with credentials from tls::MakeServerCredentials.
  explicit FakeServer(std::shared_ptr<grpc::ServerCredentials> credentials =
                          grpc::InsecureServerCredentials()) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeServer() { Shutdown(); }
  void Shutdown() {
    if (server_) {
      server_->Shutdown();
      server_->Wait();
      server_.reset();
    }
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  FakeCoordinator& fake() { return service_; }

 private:
  FakeCoordinator service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs the CLI in-process with the given environment (nothing else is visible to it).
// `stdin_text` is what the CLI reads from its input (`rib login`).
inline CliResult RunRib(const std::vector<std::string>& args,
                        std::map<std::string, std::string> env = {},
                        bool terminal = false, const CliOptions& options = {},
                        int terminal_width = 0, const std::string& stdin_text = "") {
  std::ostringstream out, err;
  std::istringstream in(stdin_text);
  CliIo io;
  io.out = &out;
  io.err = &err;
  io.in = &in;
  io.out_is_terminal = terminal;
  io.terminal_width = terminal_width;
  io.env = [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  CliResult result;
  result.code = RunCli(args, io, options);
  result.out = out.str();
  result.err = err.str();
  return result;
}

}  // namespace rib::client::testing

#endif  // RIB_TESTS_CLIENT_FAKE_COORDINATOR_H_
