#include "worker/protocol/job_file.h"

#include <fstream>

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib::protocol {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(JobFileTest, RoundTripsEscapedValues) {
  ScratchDir dir;
  JobFile job;
  job.job_id = "j 1";
  job.attempt = 3;
  job.spec_proto = std::string("\0\n\x01 bytes", 9);
  job.data_root = "/data with space";
  job.dependency_weights = {{"lp", "/w/lp.safetensors"}};
  job.device_ids = {2, 3};
  job.threads = 4;
  ASSERT_THAT(WriteJobFile(job, dir.Join("job.txt")), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(JobFile back, ReadJobFile(dir.Join("job.txt")));
  EXPECT_EQ(back.job_id, "j 1");
  EXPECT_EQ(back.spec_proto, job.spec_proto);
  EXPECT_EQ(back.data_root, "/data with space");
  EXPECT_EQ(back.dependency_weights.at("lp"), "/w/lp.safetensors");
  EXPECT_THAT(back.device_ids, ElementsAre(2, 3));
  EXPECT_EQ(back.threads, 4);
  EXPECT_EQ(back.eval_cache_root, "");  // none unless the worker has one

  job.eval_cache_root = "/var/tmp/rib cache";
  job.eval_cache_max_bytes = int64_t{21} << 30;
  ASSERT_THAT(WriteJobFile(job, dir.Join("cache.txt")), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(back, ReadJobFile(dir.Join("cache.txt")));
  EXPECT_EQ(back.eval_cache_root, "/var/tmp/rib cache");
  EXPECT_EQ(back.eval_cache_max_bytes, int64_t{21} << 30);
  std::ofstream(dir.Join("size.txt")) << "job_id x\neval_cache_max_bytes -3\n";
  EXPECT_THAT(ReadJobFile(dir.Join("size.txt")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("eval_cache_max_bytes is not a size")));

  std::ofstream(dir.Join("bad.txt")) << "job_id x\nbogus 1\n";
  EXPECT_THAT(ReadJobFile(dir.Join("bad.txt")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad.txt:2")));
}

}  // namespace
}  // namespace rib::protocol
