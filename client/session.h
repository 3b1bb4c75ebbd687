// One invocation of a rib CLI command against a coordinator: the resolved connection,
// the stub and the output streams, and the commands (submit, sweeps, status, jobs,
// workers, watch, matrix, cancel, retry, drain in session.cc; undrain, priority, login,
// whoami, token, quota in session_admin.cc). Not thread-safe: one command per Session.
#ifndef RIB_CLIENT_SESSION_H_
#define RIB_CLIENT_SESSION_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/args.h"
#include "client/commands.h"
#include "client/config.h"
#include "client/format.h"
#include "grpcpp/grpcpp.h"
#include "proto/tls/credentials.h"
#include "rib/v1/coordinator.grpc.pb.h"

namespace rib::client::internal {

namespace v1 = ::rib::v1;

// `message` on one line: surrounding white space trimmed, line breaks as "; ".
std::string OneLine(const std::string& message);

// "2026-12-01 14:40:04" in local time; "-" for an unset timestamp.
std::string FormatTimestamp(const google::protobuf::Timestamp& ts);
// That text in a table; seconds since the epoch (null when unset) in JSON and CSV.
ListingCell TimestampCell(const google::protobuf::Timestamp& ts);
// "-" in a table for no worker; the id ("" for none) in JSON and CSV.
ListingCell WorkerCell(const std::string& worker_id);
// "model/method/dataset" ("model/method" without a fine-tune dataset).
std::string JobLabel(const v1::Job& job);
// The reproducibility record's columns (session_job.cc), shared by `rib job` and
// `rib results`: their keys, and the cells of one record (all null for none).
const std::vector<std::string>& ReproKeys();
std::vector<ListingCell> ReproCells(const v1::ReproRecord* record);
// The attempt a job's results come from: its last SUCCEEDED one, else its last one;
// nullptr when none is recorded.
const v1::Attempt* ResultAttempt(const v1::JobDetail& detail);

class Session {
 public:
  Session(const CliIo& io, const CliOptions& options, ConnectionConfig config,
          std::shared_ptr<grpc::Channel> channel,
          std::unique_ptr<v1::Coordinator::StubInterface> stub, bool color)
      : io_(io),
        options_(options),
        config_(std::move(config)),
        channel_(std::move(channel)),
        stub_(std::move(stub)),
        color_(color),
        user_(io.env("USER").value_or(io.env("LOGNAME").value_or(""))) {}

  bool unreachable() const { return unreachable_; }

  // Runs the command; returns an exit code, or a status to print as the error line.
  absl::StatusOr<int> Run(const std::string& command, const ParsedArgs& args);

 private:
  void Prepare(grpc::ClientContext* ctx, bool deadline) const {
    if (deadline) {
      ctx->set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
    }
    ctx->set_wait_for_ready(false);
    // The token decides who is asking (the sweep's owner, what the caller may do).
    if (!config_.token.empty())
      ctx->AddMetadata("authorization", "Bearer " + config_.token);
  }

  // Converts a gRPC status: "CODE: message", or the "cannot reach" line when the
  // channel never connected.
  absl::Status FromGrpc(const grpc::Status& s) {
    if (s.ok()) return absl::OkStatus();
    const auto code = static_cast<absl::StatusCode>(s.error_code());
    const std::string name = absl::StatusCodeToString(code);
    if ((code == absl::StatusCode::kUnavailable ||
         code == absl::StatusCode::kDeadlineExceeded) &&
        channel_ != nullptr && channel_->GetState(false) != GRPC_CHANNEL_READY) {
      unreachable_ = true;
      tls::ClientTlsOptions tls;
      tls.ca_file = config_.tls_ca;
      tls.cert_file = config_.tls_cert;
      const std::string why = tls::DescribeConnectFailure(tls, s.error_message());
      return absl::Status(
          code, absl::StrCat("cannot reach coordinator at ", config_.coordinator, " (",
                             name, why.empty() ? "" : ": ", why, ")"));
    }
    return absl::Status(code, absl::StrCat(name, ": ", OneLine(s.error_message())));
  }

  template <typename Request, typename Response>
  absl::Status Unary(grpc::Status (v1::Coordinator::StubInterface::*method)(
                         grpc::ClientContext*, const Request&, Response*),
                     const Request& request, Response* response) {
    grpc::ClientContext ctx;
    Prepare(&ctx, /*deadline=*/true);
    return FromGrpc((stub_.get()->*method)(&ctx, request, response));
  }

  std::ostream& out() { return *io_.out; }

  // The SubmitSweep request of `submit FILE` and `plan FILE` (the file, --force,
  // --request-id or the default one).
  absl::StatusOr<v1::SubmitSweepRequest> SweepRequest(const ParsedArgs& args);
  absl::StatusOr<int> Submit(const ParsedArgs& args);
  absl::StatusOr<int> Sweeps(const ParsedArgs& args);
  absl::StatusOr<int> Status(const std::string& sweep_id, const ParsedArgs& args);
  absl::StatusOr<int> Jobs(const ParsedArgs& args);
  // Every job of `request`, page by page.
  absl::Status ForEachJob(v1::ListJobsRequest request,
                          const std::function<void(const v1::Job&)>& visit);
  // One row per result (model, method, fine-tune dataset, eval dataset, subset):
  // ListJobs for the sweep's jobs, then GetJob for each job's results.
  absl::StatusOr<int> Results(const std::string& sweep_id, const ParsedArgs& args);
  absl::StatusOr<int> Workers(const ParsedArgs& args);
  // session_job.cc
  absl::StatusOr<int> Job(const std::string& job_id, const ParsedArgs& args);
  absl::StatusOr<int> Logs(const std::string& job_id, const ParsedArgs& args);
  // `plan FILE` and `submit --dry-run FILE`: PlanSweep.
  absl::StatusOr<int> Plan(const ParsedArgs& args);
  absl::StatusOr<int> Watch(const ParsedArgs& args);
  absl::StatusOr<int> Matrix(const ParsedArgs& args);
  absl::StatusOr<int> SweepAction(const std::string& command,
                                  const std::string& sweep_id);
  absl::StatusOr<int> Drain(const std::string& worker_id);
  // session_admin.cc
  absl::StatusOr<int> Undrain(const std::string& worker_id);
  absl::StatusOr<int> Priority(const std::string& sweep_id, const std::string& value);
  absl::StatusOr<int> Login(const ParsedArgs& args);
  absl::StatusOr<int> WhoAmI(const ParsedArgs& args);
  absl::StatusOr<int> TokenCreate(const ParsedArgs& args);
  absl::StatusOr<int> TokenList(const ParsedArgs& args);
  absl::StatusOr<int> TokenRevoke(const std::string& token_id);
  absl::StatusOr<int> QuotaSet(const std::string& user, const ParsedArgs& args);
  absl::StatusOr<int> QuotaList(const ParsedArgs& args);

  const CliIo& io_;
  const CliOptions& options_;
  ConnectionConfig config_;
  std::shared_ptr<grpc::Channel> channel_;  // null when the stub came from a factory
  std::unique_ptr<v1::Coordinator::StubInterface> stub_;
  bool color_;
  // $USER, else $LOGNAME, else "": only for `submit`'s default request id (the
  // coordinator takes the owner from the token).
  const std::string user_;
  bool unreachable_ = false;
  bool ended_once_ = false;  // `logs -f` made its read after the attempt ended
};

}  // namespace rib::client::internal

#endif  // RIB_CLIENT_SESSION_H_
