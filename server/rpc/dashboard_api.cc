#include "server/rpc/dashboard_api.h"

#include <google/protobuf/util/json_util.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/format.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "rib/v1/coordinator.pb.h"
#include "server/auth/credentials.h"
#include "server/auth/policy.h"
#include "server/rpc/convert.h"
#include "server/service/pool_summary.h"

namespace rib::rpc {
namespace {

constexpr size_t kMaxIdBytes = 200;  // as the RPCs' RequireId

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

HttpResponse Json(std::string body) {
  HttpResponse r;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

HttpResponse JsonMessage(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  const auto printed = google::protobuf::util::MessageToJsonString(m, &out, options);
  if (!printed.ok()) {
    return JsonError(absl::InternalError(absl::StrCat("cannot print ", m.GetTypeName(),
                                                      " as JSON: ", printed.ToString())));
  }
  return Json(std::move(out));
}

// The caller of the route that stands for `rpc`, or the refusal.
absl::StatusOr<domain::Principal> Caller(const HttpRequest& req,
                                         service::IdentityService* identity,
                                         absl::string_view rpc) {
  const std::string header = req.Header("authorization");
  if (header.empty()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "no token: GET ", req.path,
        " needs \"Authorization: Bearer TOKEN\" (log in with a token of `rib token "
        "create`)"));
  }
  RIB_ASSIGN_OR_RETURN(std::string token, auth::ParseBearer(header));
  RIB_ASSIGN_OR_RETURN(domain::Principal who, identity->Authenticate(token));
  RIB_RETURN_IF_ERROR(auth::Authorize(who, rpc));
  return who;
}

absl::Status CheckId(const std::string& id) {
  if (id.empty() || id.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError("sweep id is empty or too long");
  }
  return absl::OkStatus();
}

std::string QueryValue(const HttpRequest& req, const std::string& key) {
  auto it = req.query.find(key);
  return it == req.query.end() ? "" : it->second;
}

HttpResponse PoolJson(const service::PoolSummary& pool) {
  JsonValue queued = JsonValue::Object();
  for (const auto& [owner, n] : pool.queued_by_owner)
    queued.Set(owner, JsonValue::Int(n));
  JsonValue finished = JsonValue::Array(), failed = JsonValue::Array();
  for (int n : pool.finished_per_hour) finished.Append(JsonValue::Int(n));
  for (int n : pool.failed_per_hour) failed.Append(JsonValue::Int(n));
  JsonValue out = JsonValue::Object();
  out.Set("now", JsonValue::String(
                     absl::FormatTime(absl::RFC3339_sec, pool.now, absl::UTCTimeZone())));
  out.Set("queued_by_owner", std::move(queued));
  out.Set("finished_per_hour", std::move(finished));
  out.Set("failed_per_hour", std::move(failed));
  return Json(WriteJson(out));
}

}  // namespace

HttpResponse JsonError(const absl::Status& status) {
  JsonValue out = JsonValue::Object();
  out.Set("code", JsonValue::String(absl::StatusCodeToString(status.code())));
  out.Set("error", JsonValue::String(status.message()));
  HttpResponse r = Json(WriteJson(out));
  r.status = HttpStatusOf(status.code());
  return r;
}

HttpResponse DashboardApi::Handle(const HttpRequest& req) const {
  // "/api/sweeps/ID/matrix" → {"sweeps", "ID", "matrix"}
  std::vector<std::string> parts =
      absl::StrSplit(absl::string_view(req.path).substr(sizeof("/api/") - 1), '/');
  const size_t n = parts.size();
  const std::string& first = parts[0];
  // Each route: the RPC whose rule and answer it shares, then the same call.
  auto caller = [&](absl::string_view rpc) { return Caller(req, identity_, rpc); };
  if (n == 1 && first == "whoami") {
    auto who = caller("rib.v1.Coordinator.WhoAmI");
    if (!who.ok()) return JsonError(who.status());
    v1::WhoAmIResponse out;
    out.set_user(who->user);
    out.set_role(ToProto(who->role));
    out.set_token_id(who->token_id);
    return JsonMessage(out);
  }
  if (n == 1 && first == "workers") {
    auto who = caller("rib.v1.Coordinator.ListWorkers");
    if (!who.ok()) return JsonError(who.status());
    auto workers = workers_->ListWorkers();
    if (!workers.ok()) return JsonError(workers.status());
    v1::ListWorkersResponse out;
    for (const auto& w : *workers) ToProto(w, out.add_workers());
    return JsonMessage(out);
  }
  if (n == 1 && first == "pool") {
    auto who = caller("rib.v1.Coordinator.ListJobs");
    if (!who.ok()) return JsonError(who.status());
    auto pool = service::SummarizePool(sweeps_, absl::Now());
    if (!pool.ok()) return JsonError(pool.status());
    return PoolJson(*pool);
  }
  if (first != "sweeps" || n > 3) {
    return JsonError(absl::NotFoundError(absl::StrCat("no API route ", req.path)));
  }
  if (n == 1) {
    auto who = caller("rib.v1.Coordinator.ListSweeps");
    if (!who.ok()) return JsonError(who.status());
    auto sweeps = sweeps_->List(0, QueryValue(req, "page_token"));
    if (!sweeps.ok()) return JsonError(sweeps.status());
    v1::ListSweepsResponse out;
    for (const auto& s : sweeps->sweeps) ToProto(s, out.add_sweeps());
    out.set_next_page_token(sweeps->next_page_token);
    return JsonMessage(out);
  }
  const std::string& id = parts[1];
  if (n == 2) {
    auto who = caller("rib.v1.Coordinator.GetSweep");
    if (!who.ok()) return JsonError(who.status());
    if (absl::Status s = CheckId(id); !s.ok()) return JsonError(s);
    auto sweep = sweeps_->Get(id);
    if (!sweep.ok()) return JsonError(sweep.status());
    v1::Sweep out;
    ToProto(*sweep, &out);
    return JsonMessage(out);
  }
  if (parts[2] == "matrix") {
    auto who = caller("rib.v1.Coordinator.GetMatrix");
    if (!who.ok()) return JsonError(who.status());
    if (absl::Status s = CheckId(id); !s.ok()) return JsonError(s);
    auto matrices =
        sweeps_->GetMatrix(id, QueryValue(req, "model"), QueryValue(req, "method"));
    if (!matrices.ok()) return JsonError(matrices.status());
    v1::GetMatrixResponse out;
    for (const auto& m : *matrices) ToProto(m, out.add_matrices());
    const std::string format = QueryValue(req, "format");
    if (format == "csv") {  // the CLI's `rib matrix -o csv`, the same function
      HttpResponse r;
      r.content_type = "text/csv; charset=utf-8";
      r.body = client::FormatCsv({out.matrices().begin(), out.matrices().end()});
      return r;
    }
    if (!format.empty() && format != "json") {
      return JsonError(absl::InvalidArgumentError(
          absl::StrCat("format '", format, "' is not json or csv")));
    }
    return JsonMessage(out);
  }
  if (parts[2] == "jobs") {
    auto who = caller("rib.v1.Coordinator.ListJobs");
    if (!who.ok()) return JsonError(who.status());
    if (absl::Status s = CheckId(id); !s.ok()) return JsonError(s);
    storage::JobFilter filter;
    filter.sweep_id = id;
    filter.page_token = QueryValue(req, "page_token");
    if (const std::string state = QueryValue(req, "state"); !state.empty()) {
      filter.state = domain::ParseJobState(state);
      if (!filter.state) {
        return JsonError(absl::InvalidArgumentError(
            absl::StrCat("state '", state,
                         "' is not a job state (PENDING, QUEUED, LEASED, RUNNING, "
                         "SUCCEEDED, FAILED, CANCELLED)")));
      }
    }
    auto jobs = sweeps_->ListJobs(filter);
    if (!jobs.ok()) return JsonError(jobs.status());
    v1::ListJobsResponse out;
    for (const auto& j : jobs->jobs) ToProto(j, out.add_jobs());
    out.set_next_page_token(jobs->next_page_token);
    out.set_total(jobs->total);
    return JsonMessage(out);
  }
  return JsonError(absl::NotFoundError(absl::StrCat("no API route ", req.path)));
}

}  // namespace rib::rpc
