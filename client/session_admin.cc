// The identity and administration commands of Session: login, whoami, token, quota,
// undrain and priority (session.h).
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/config.h"
#include "client/session.h"
#include "client/watch.h"
#include "common/json.h"
#include "common/status_macros.h"

namespace rib::client::internal {
namespace {

using Stub = v1::Coordinator::StubInterface;

// "user", "admin", "worker" ("unspecified" for a coordinator that sent none).
std::string RoleName(v1::Role role) {
  std::string name = v1::Role_Name(role);
  if (name.rfind("ROLE_", 0) == 0) name = name.substr(5);
  return absl::AsciiStrToLower(name);
}

absl::StatusOr<v1::Role> ParseRole(const std::string& text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "user") return v1::ROLE_USER;
  if (lower == "admin") return v1::ROLE_ADMIN;
  if (lower == "worker") return v1::ROLE_WORKER;
  return absl::InvalidArgumentError(
      absl::StrCat("--role: unknown role '", text, "' (expected user, admin or worker)"));
}

std::string WorkerStateName(v1::WorkerState state) {
  std::string name = v1::WorkerState_Name(state);
  return absl::AsciiStrToLower(name.substr(std::string("WORKER_STATE_").size()));
}

const std::vector<std::string>& TokenKeys() {
  static const auto* keys =
      new std::vector<std::string>{"id",         "user",    "role",       "created_by",
                                   "created_at", "revoked", "revoked_at", "revoked_by"};
  return *keys;
}

std::vector<ListingCell> TokenRow(const v1::TokenInfo& t) {
  std::string revoked = "-";
  if (t.revoked()) {
    revoked = FormatTimestamp(t.revoked_at());
    if (!t.revoked_by().empty()) absl::StrAppend(&revoked, " by ", t.revoked_by());
  }
  return {TextCell(t.id()),
          TextCell(t.user()),
          TextCell(RoleName(t.role())),
          ListingCell{t.created_by().empty() ? "-" : t.created_by(),
                      JsonValue::String(t.created_by())},
          TimestampCell(t.created_at()),
          ListingCell{revoked, JsonValue::Bool(t.revoked())},
          ListingCell{"", TimestampCell(t.revoked_at()).value},
          ListingCell{"", JsonValue::String(t.revoked_by())}};
}

}  // namespace

absl::StatusOr<int> Session::Undrain(const std::string& worker_id) {
  v1::UndrainWorkerRequest request;
  request.set_worker_id(worker_id);
  v1::Worker worker;
  RIB_RETURN_IF_ERROR(Unary(&Stub::UndrainWorker, request, &worker));
  out() << "worker " << worker.id() << ": " << WorkerStateName(worker.state()) << ", "
        << worker.free_devices() << " devices free\n";
  return kExitOk;
}

absl::StatusOr<int> Session::Priority(const std::string& sweep_id,
                                      const std::string& value) {
  int priority = 0;
  if (!absl::SimpleAtoi(value, &priority)) {
    return absl::InvalidArgumentError(
        absl::StrCat("priority: '", value, "' is not a whole number"));
  }
  v1::SetSweepPriorityRequest request;
  request.set_sweep_id(sweep_id);
  request.set_priority(priority);
  v1::Sweep sweep;
  RIB_RETURN_IF_ERROR(Unary(&Stub::SetSweepPriority, request, &sweep));
  out() << "sweep " << sweep.id() << ": priority " << sweep.priority() << "\n";
  return kExitOk;
}

absl::StatusOr<int> Session::Login(const ParsedArgs& args) {
  std::string token;
  if (std::optional<std::string> flag = args.Get("token")) {
    token = *flag;
  } else if (io_.in != nullptr) {
    if (io_.in_is_terminal) *io_.err << "paste your rib token: " << std::flush;
    std::getline(*io_.in, token);
  }
  token = std::string(absl::StripAsciiWhitespace(token));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        "no token given (--token T, or the token as one line on stdin)");
  }
  // Where it goes is settled before the coordinator is asked, so a login never ends
  // with a checked token and nowhere to keep it.
  RIB_ASSIGN_OR_RETURN(const std::string path, ConfigFilePath(io_.env));
  config_.token = token;  // this call carries the token being checked
  v1::WhoAmIResponse me;
  absl::Status checked = Unary(&Stub::WhoAmI, v1::WhoAmIRequest(), &me);
  if (absl::IsUnauthenticated(checked)) {
    return absl::UnauthenticatedError(
        absl::StrCat("the coordinator at ", config_.coordinator, " refused this token (",
                     checked.message(), "); nothing saved"));
  }
  RIB_RETURN_IF_ERROR(checked);
  RIB_RETURN_IF_ERROR(SaveTokenToConfigFile(path, token));
  out() << "logged in as " << me.user() << " (role " << RoleName(me.role())
        << "); token saved to " << path << "\n";
  return kExitOk;
}

absl::StatusOr<int> Session::WhoAmI(const ParsedArgs& args) {
  RIB_ASSIGN_OR_RETURN(const OutputFormat format, ParseOutputFormat(args.Get("output")));
  v1::WhoAmIResponse me;
  RIB_RETURN_IF_ERROR(Unary(&Stub::WhoAmI, v1::WhoAmIRequest(), &me));
  if (format != OutputFormat::kTable) {
    Listing listing;
    listing.keys = {"user", "role", "token_id"};
    listing.single = true;
    listing.rows.push_back(
        {TextCell(me.user()), TextCell(RoleName(me.role())), TextCell(me.token_id())});
    out() << FormatListing(listing, format);
    return kExitOk;
  }
  out() << me.user() << " (role " << RoleName(me.role()) << ", token " << me.token_id()
        << ")\n";
  return kExitOk;
}

absl::StatusOr<int> Session::TokenCreate(const ParsedArgs& args) {
  std::optional<std::string> user = args.Get("user");
  if (!user || user->empty()) return absl::InvalidArgumentError("--user is required");
  std::optional<std::string> role_text = args.Get("role");
  if (!role_text) return absl::InvalidArgumentError("--role is required");
  RIB_ASSIGN_OR_RETURN(const v1::Role role, ParseRole(*role_text));
  RIB_ASSIGN_OR_RETURN(const OutputFormat format, ParseOutputFormat(args.Get("output")));
  v1::CreateTokenRequest request;
  request.set_user(*user);
  request.set_role(role);
  v1::CreateTokenResponse response;
  RIB_RETURN_IF_ERROR(Unary(&Stub::CreateToken, request, &response));
  if (format != OutputFormat::kTable) {
    // The new token first, then what `rib token list` shows of it.
    Listing listing;
    listing.keys = {"token"};
    listing.single = true;
    listing.keys.insert(listing.keys.end(), TokenKeys().begin(), TokenKeys().end());
    listing.rows.push_back({TextCell(response.token())});
    for (ListingCell& c : TokenRow(response.info()))
      listing.rows[0].push_back(std::move(c));
    out() << FormatListing(listing, format);
    return kExitOk;
  }
  // The token alone on the first line: `T=$(rib token create ...)` captures it.
  out() << response.token() << "\n";
  out().flush();
  *io_.err << "token " << response.info().id() << " for " << response.info().user()
           << " (role " << RoleName(response.info().role())
           << "); keep it now: the coordinator will not show it again\n";
  return kExitOk;
}

absl::StatusOr<int> Session::TokenList(const ParsedArgs& args) {
  RIB_ASSIGN_OR_RETURN(const OutputFormat format, ParseOutputFormat(args.Get("output")));
  v1::ListTokensRequest request;
  request.set_include_revoked(args.Has("all"));
  v1::ListTokensResponse response;
  RIB_RETURN_IF_ERROR(Unary(&Stub::ListTokens, request, &response));
  Listing listing;
  listing.keys = TokenKeys();
  listing.titles = {"ID", "USER", "ROLE", "CREATED BY", "CREATED", "REVOKED", "", ""};
  listing.empty_table = "no tokens";
  for (const v1::TokenInfo& t : response.tokens()) listing.rows.push_back(TokenRow(t));
  out() << FormatListing(listing, format);
  return kExitOk;
}

absl::StatusOr<int> Session::TokenRevoke(const std::string& token_id) {
  v1::RevokeTokenRequest request;
  request.set_token_id(token_id);
  v1::TokenInfo info;
  RIB_RETURN_IF_ERROR(Unary(&Stub::RevokeToken, request, &info));
  out() << "revoked token " << info.id() << " of " << info.user() << " (role "
        << RoleName(info.role()) << ")\n";
  return kExitOk;
}

absl::StatusOr<int> Session::QuotaSet(const std::string& user, const ParsedArgs& args) {
  std::optional<std::string> devices = args.Get("devices");
  if (!devices) return absl::InvalidArgumentError("--devices is required");
  v1::SetQuotaRequest request;
  request.set_user(user);
  int n = 0;
  if (*devices == "unlimited") {
    request.set_unlimited(true);
  } else if (absl::SimpleAtoi(*devices, &n) && n >= 0) {
    request.set_devices(n);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--devices: expected a number of devices (0 or more) or 'unlimited', got '",
        *devices, "'"));
  }
  v1::Quota quota;
  RIB_RETURN_IF_ERROR(Unary(&Stub::SetQuota, request, &quota));
  out() << "quota of " << quota.user() << ": "
        << (quota.unlimited() ? std::string("unlimited")
                              : absl::StrCat(quota.devices(), " devices"))
        << " (" << quota.devices_in_use() << " in use)\n";
  return kExitOk;
}

absl::StatusOr<int> Session::QuotaList(const ParsedArgs& args) {
  RIB_ASSIGN_OR_RETURN(const OutputFormat format, ParseOutputFormat(args.Get("output")));
  v1::ListQuotasResponse response;
  RIB_RETURN_IF_ERROR(Unary(&Stub::ListQuotas, v1::ListQuotasRequest(), &response));
  Listing listing;
  listing.keys = {"user", "devices", "unlimited", "devices_in_use"};
  listing.titles = {"USER", "DEVICES", "", "IN USE"};
  listing.empty_table = "no quotas (every user is unlimited)";
  for (const v1::Quota& q : response.quotas()) {
    listing.rows.push_back(
        {TextCell(q.user()),
         ListingCell{q.unlimited() ? "unlimited" : absl::StrCat(q.devices()),
                     q.unlimited() ? JsonValue::Null() : JsonValue::Int(q.devices())},
         ListingCell{"", JsonValue::Bool(q.unlimited())}, IntCell(q.devices_in_use())});
  }
  out() << FormatListing(listing, format);
  return kExitOk;
}

}  // namespace rib::client::internal
