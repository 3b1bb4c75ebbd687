// gMock matchers for absl::Status / absl::StatusOr: IsOk() and StatusIs(code[, msg]).
#ifndef RIB_TESTS_TESTING_STATUS_MATCHERS_H_
#define RIB_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"

namespace rib::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = ::rib::testing::GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s;
  return s.ok();
}

// StatusIs(code) or StatusIs(code, message_matcher), e.g.
// StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("methods[1]")).
MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = ::rib::testing::GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code &&
         ::testing::Matches(message_matcher)(std::string(s.message()));
}

inline auto StatusIs(absl::StatusCode code) { return StatusIs(code, ::testing::_); }

}  // namespace rib::testing

#define RIB_ASSERT_OK_AND_ASSIGN(lhs, expr)                                           \
  RIB_INTERNAL_ASSERT_OK_AND_ASSIGN(RIB_INTERNAL_CONCAT(rib_statusor_, __LINE__), lhs, \
                                    expr)
#define RIB_INTERNAL_ASSERT_OK_AND_ASSIGN(tmp, lhs, expr) \
  auto tmp = (expr);                                      \
  ASSERT_TRUE(tmp.ok()) << tmp.status();                  \
  lhs = std::move(tmp).value()

#endif  // RIB_TESTS_TESTING_STATUS_MATCHERS_H_
