#include "worker/protocol/rank_env.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib::protocol {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;

TEST(TouchHeartbeatTest, CreatesAndAdvancesModificationTime) {
  ScratchDir dir;
  const std::string path = dir.Join("hb");
  EXPECT_THAT(TouchHeartbeat(path), IsOk());
  struct stat first;
  ASSERT_EQ(stat(path.c_str(), &first), 0);
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_THAT(TouchHeartbeat(path), IsOk());
  struct stat second;
  ASSERT_EQ(stat(path.c_str(), &second), 0);
  EXPECT_GT(absl::TimeFromTimespec(second.st_mtim),
            absl::TimeFromTimespec(first.st_mtim));
  EXPECT_THAT(TouchHeartbeat(""), IsOk());
  EXPECT_THAT(TouchHeartbeat(dir.Join("missing/dir/hb")),
              StatusIs(absl::StatusCode::kInternal));
}

TEST(ProcessEnvironmentTest, CopiesTheEnvironment) {
  ASSERT_EQ(setenv("RIB_RANK_ENV_TEST", "a=b c", 1), 0);
  const auto env = ProcessEnvironment();
  ASSERT_EQ(env.count("RIB_RANK_ENV_TEST"), 1u);
  EXPECT_EQ(env.at("RIB_RANK_ENV_TEST"), "a=b c");  // split at the first '=' only
}

}  // namespace
}  // namespace rib::protocol
