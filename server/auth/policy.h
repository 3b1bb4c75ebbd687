// Who may do what: the one table of the pool's access rules (README "Who may do what").
// Every RPC handler of the coordinator asks Authorize before it does anything, and a
// test checks that every RPC of rib.v1.Coordinator and rib.v1.WorkerApi has a row.
//
//   users   submit sweeps; cancel, retry and re-prioritise their own; read everything
//           (results, matrices, jobs and pool status: the lab shares science);
//   admins  anything a user may, on any sweep, plus tokens, quotas, drain/undrain, and
//           sweep priorities above the cap;
//   workers the worker API only (and nothing else).
#ifndef RIB_SERVER_AUTH_POLICY_H_
#define RIB_SERVER_AUTH_POLICY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/domain/types.h"

namespace rib::auth {

enum class Access {
  kAnyRole,     // any valid token (WhoAmI)
  kReader,      // users and admins
  kSweepOwner,  // admins, or the user who owns the sweep
  kAdmin,       // admins
  kWorker,      // worker tokens
};

struct Rule {
  absl::string_view rpc;  // full proto name, "rib.v1.Coordinator.CancelSweep"
  Access access;
};

// The table, in the order of the proto services.
const std::vector<Rule>& Rules();

// OK when `who` may make the call `rpc` (full proto name). For kSweepOwner rules,
// `sweep_owner` is the owner of the sweep it acts on; nullptr checks the role alone
// (before the sweep is looked up). PERMISSION_DENIED naming the call, what it needs
// and who asked; INTERNAL for an RPC without a row (a handler added without a rule).
absl::Status Authorize(const domain::Principal& who, absl::string_view rpc,
                       const std::string* sweep_owner = nullptr);

// Whether `who` may set a sweep's priority above the coordinator's cap (admins).
bool MayExceedPriorityCap(const domain::Principal& who);

}  // namespace rib::auth

#endif  // RIB_SERVER_AUTH_POLICY_H_
