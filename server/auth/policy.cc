#include "server/auth/policy.h"

#include "absl/strings/str_cat.h"

namespace rib::auth {
namespace {

using domain::Principal;
using domain::Role;

absl::string_view ShortName(absl::string_view rpc) {
  const size_t dot = rpc.rfind('.');
  return dot == absl::string_view::npos ? rpc : rpc.substr(dot + 1);
}

std::string Caller(const Principal& who) {
  return absl::StrCat("caller: ", who.user, ", role ", domain::RoleName(who.role));
}

absl::Status Denied(absl::string_view rpc, absl::string_view needs, const Principal& who) {
  return absl::PermissionDeniedError(
      absl::StrCat(ShortName(rpc), " needs ", needs, " (", Caller(who), ")"));
}

}  // namespace

const std::vector<Rule>& Rules() {
  static const std::vector<Rule>* const kRules = new std::vector<Rule>{
      {"rib.v1.Coordinator.SubmitSweep", Access::kReader},
      {"rib.v1.Coordinator.PlanSweep", Access::kReader},
      {"rib.v1.Coordinator.GetSweep", Access::kReader},
      {"rib.v1.Coordinator.ListSweeps", Access::kReader},
      {"rib.v1.Coordinator.CancelSweep", Access::kSweepOwner},
      {"rib.v1.Coordinator.RetrySweep", Access::kSweepOwner},
      {"rib.v1.Coordinator.ListJobs", Access::kReader},
      {"rib.v1.Coordinator.GetJob", Access::kReader},
      {"rib.v1.Coordinator.DescribeJob", Access::kReader},
      // A rank's log may show paths and data of the sweep's owner: theirs to read.
      {"rib.v1.Coordinator.GetAttemptLog", Access::kSweepOwner},
      {"rib.v1.Coordinator.WatchSweep", Access::kReader},
      {"rib.v1.Coordinator.GetMatrix", Access::kReader},
      {"rib.v1.Coordinator.ListWorkers", Access::kReader},
      {"rib.v1.Coordinator.DrainWorker", Access::kAdmin},
      {"rib.v1.Coordinator.UndrainWorker", Access::kAdmin},
      {"rib.v1.Coordinator.SetSweepPriority", Access::kSweepOwner},
      {"rib.v1.Coordinator.WhoAmI", Access::kAnyRole},
      {"rib.v1.Coordinator.CreateToken", Access::kAdmin},
      {"rib.v1.Coordinator.ListTokens", Access::kAdmin},
      {"rib.v1.Coordinator.RevokeToken", Access::kAdmin},
      {"rib.v1.Coordinator.SetQuota", Access::kAdmin},
      {"rib.v1.Coordinator.ListQuotas", Access::kReader},
      {"rib.v1.WorkerApi.Register", Access::kWorker},
      {"rib.v1.WorkerApi.Heartbeat", Access::kWorker},
      {"rib.v1.WorkerApi.AcquireJob", Access::kWorker},
      {"rib.v1.WorkerApi.ReportResults", Access::kWorker},
      {"rib.v1.WorkerApi.AppendAttemptLog", Access::kWorker},
  };
  return *kRules;
}

absl::Status Authorize(const Principal& who, absl::string_view rpc,
                       const std::string* sweep_owner) {
  const Rule* rule = nullptr;
  for (const Rule& r : Rules()) {
    if (r.rpc == rpc) rule = &r;
  }
  if (rule == nullptr) {
    return absl::InternalError(absl::StrCat("no access rule for ", rpc));
  }
  switch (rule->access) {
    case Access::kAnyRole:
      return absl::OkStatus();
    case Access::kReader:
      if (who.role == Role::kUser || who.role == Role::kAdmin) return absl::OkStatus();
      return Denied(rpc, "role user or admin", who);
    case Access::kSweepOwner:
      if (who.role == Role::kAdmin) return absl::OkStatus();
      if (who.role != Role::kUser) return Denied(rpc, "role user or admin", who);
      if (sweep_owner == nullptr || *sweep_owner == who.user) return absl::OkStatus();
      return Denied(rpc,
                    absl::StrCat("the sweep's owner (", *sweep_owner, ") or role admin"),
                    who);
    case Access::kAdmin:
      if (who.role == Role::kAdmin) return absl::OkStatus();
      return Denied(rpc, "role admin", who);
    case Access::kWorker:
      if (who.role == Role::kWorker) return absl::OkStatus();
      return Denied(rpc, "role worker", who);
  }
  return absl::InternalError(absl::StrCat("bad access rule for ", rpc));
}

bool MayExceedPriorityCap(const Principal& who) { return who.role == Role::kAdmin; }

}  // namespace rib::auth
