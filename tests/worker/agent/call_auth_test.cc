// The worker's token: read from its file (trimmed; unreadable or empty files named in
// the error) and described when the coordinator refuses it.
#include "worker/agent/call_auth.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib::agent {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(CallAuthTest, TokenFileFirstLineTrimmed) {
  ScratchDir dir;
  const std::string path = dir.Join("token");
  std::ofstream(path) << "  rib_abc123 \t\nsecond line ignored\n";
  absl::StatusOr<std::string> token = ReadTokenFile(path);
  ASSERT_THAT(token.status(), IsOk());
  EXPECT_EQ(*token, "rib_abc123");
  std::ofstream(path, std::ios::trunc) << "rib_no_newline";
  EXPECT_EQ(*ReadTokenFile(path), "rib_no_newline");
}

TEST(CallAuthTest, UnreadableOrEmptyTokenFileNamesThePath) {
  ScratchDir dir;
  const std::string missing = dir.Join("absent");
  absl::StatusOr<std::string> token = ReadTokenFile(missing);
  EXPECT_THAT(token.status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(token.status().message()),
              AllOf(HasSubstr(missing), HasSubstr("No such file")));

  const std::string empty = dir.Join("empty");
  std::ofstream(empty) << "   \nrib_on_line_two\n";
  token = ReadTokenFile(empty);
  EXPECT_THAT(token.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(token.status().message()), HasSubstr(empty));

  if (geteuid() != 0) {  // root reads any file
    const std::string locked = dir.Join("locked");
    std::ofstream(locked) << "rib_secret_value\n";
    chmod(locked.c_str(), 0);
    token = ReadTokenFile(locked);
    EXPECT_THAT(token.status(), StatusIs(absl::StatusCode::kPermissionDenied));
    EXPECT_THAT(std::string(token.status().message()),
                AllOf(HasSubstr(locked), Not(HasSubstr("rib_secret_value"))));
  }
}

TEST(CallAuthTest, RefusalsAreDescribed) {
  EXPECT_EQ(DescribeRefusal(absl::UnauthenticatedError("x"), /*have_token=*/true),
            "the coordinator refused the worker's token (UNAUTHENTICATED): give "
            "--token-file or RIB_TOKEN with a token of role worker");
  EXPECT_THAT(DescribeRefusal(absl::UnauthenticatedError("x"), /*have_token=*/false),
              HasSubstr("UNAUTHENTICATED: none was given"));
  EXPECT_THAT(DescribeRefusal(absl::PermissionDeniedError("x"), true),
              HasSubstr("role worker"));
  EXPECT_EQ(DescribeRefusal(absl::UnavailableError("x"), true), "");
}

}  // namespace
}  // namespace rib::agent
