// ParseDevices: the --devices flag of rib-worker.
#include "worker/agent/devices.h"

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rib::agent {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;

using ::testing::ElementsAre;

TEST(DevicesTest, ParsesCudaListsAndCpuSlotCounts) {
  RIB_ASSERT_OK_AND_ASSIGN(DeviceSet cuda, ParseDevices("cuda:0,1,3"));
  EXPECT_EQ(cuda.kind, "cuda");
  EXPECT_THAT(cuda.ids, ElementsAre(0, 1, 3));
  EXPECT_EQ(cuda.TorchDevice(3), "cuda:3");
  RIB_ASSERT_OK_AND_ASSIGN(DeviceSet cpu, ParseDevices("cpu:4"));
  EXPECT_EQ(cpu.count(), 4);
  EXPECT_EQ(cpu.TorchDevice(2), "cpu");
  RIB_ASSERT_OK_AND_ASSIGN(DeviceSet one, ParseDevices("cpu"));
  EXPECT_EQ(one.count(), 1);
  for (const char* bad : {"gpu:0", "cuda:", "cuda:0,0", "cuda:-1", "cpu:0", "cpu:x"}) {
    EXPECT_THAT(ParseDevices(bad).status(), StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

}  // namespace
}  // namespace rib::agent
