// Status propagation macros and Annotate. Our Abseil (20220623) has none of its own.
#ifndef RIB_COMMON_STATUS_MACROS_H_
#define RIB_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#define RIB_INTERNAL_CONCAT_IMPL(a, b) a##b
#define RIB_INTERNAL_CONCAT(a, b) RIB_INTERNAL_CONCAT_IMPL(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RIB_RETURN_IF_ERROR(expr)                       \
  do {                                                  \
    ::absl::Status rib_status_ = (expr);                \
    if (!rib_status_.ok()) return rib_status_;          \
  } while (false)

// RIB_ASSIGN_OR_RETURN(auto x, F()); or RIB_ASSIGN_OR_RETURN(x, F());
#define RIB_ASSIGN_OR_RETURN(lhs, expr) \
  RIB_INTERNAL_ASSIGN_OR_RETURN(RIB_INTERNAL_CONCAT(rib_statusor_, __LINE__), lhs, expr)

#define RIB_INTERNAL_ASSIGN_OR_RETURN(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return std::move(tmp).status();      \
  lhs = std::move(tmp).value()

namespace rib {

// Returns `status` with `context` prefixed to its message ("context: message"), the
// same code and every payload of `status` (callers attach payloads, e.g. which rank
// failed, and a context prefix must not lose them). Returns OK unchanged.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace rib

#endif  // RIB_COMMON_STATUS_MACROS_H_
