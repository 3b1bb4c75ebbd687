// RunJob with the node's evaluation cache (RunOptions::eval_cache_root): a `pre` job on
// FMNIST-RIB reports the same correct/total/skipped counts, row for row, without the
// cache, with it cold and with it warm; the warm run opens every entry as a hit. (The
// inputs' bit-identity is data_eval_cache_test's; equal inputs and the same kernels on
// one machine make equal counts.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/testing/tiny_job.h"
#include "worker/data/eval_cache_stats.h"
#include "worker/engine/model.h"
#include "worker/engine/runner.h"
#include "worker/engine/weights.h"

namespace rib::engine {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;

std::vector<std::string> Rows(const RunResult& result) {
  std::vector<std::string> out;
  for (const ResultRow& r : result.results) {
    out.push_back(absl::StrCat(r.dataset, "|", r.subset, " ", r.correct, "/", r.total, " ",
                               r.skipped));
  }
  return out;
}

TEST(EvalCacheRunnerTest, SameCountsWithoutColdAndWarm) {
  ScratchDir artifacts, cache;
  torch::manual_seed(1);
  auto model = CreateModel("fmnist_vit", 10);
  ASSERT_THAT(model, IsOk());
  ASSERT_THAT(SaveClassifier(*model, artifacts.Join("pre.safetensors")), IsOk());
  JobSpec spec = ::rib::testing::TinyFmnistJob("pre");
  RunOptions options;
  options.data_root = ::rib::testing::CachedDataRoot();
  options.artifact_root = artifacts.path();
  options.threads = 2;

  RIB_ASSERT_OK_AND_ASSIGN(RunResult uncached, RunJob(spec, options, nullptr));
  ASSERT_EQ(uncached.results.size(), 1u + 75u);  // fmnist-val, fmnist-c's 75 subsets
  int64_t correct = 0;
  for (const ResultRow& r : uncached.results) correct += r.correct;
  EXPECT_GT(correct, 0);

  options.eval_cache_root = cache.path();
  RIB_ASSERT_OK_AND_ASSIGN(RunResult cold, RunJob(spec, options, nullptr));
  const data::EvalCacheStats after_cold = data::ReadEvalCacheStats(cache.path());
  RIB_ASSERT_OK_AND_ASSIGN(RunResult warm, RunJob(spec, options, nullptr));
  const data::EvalCacheStats after_warm = data::ReadEvalCacheStats(cache.path());

  EXPECT_EQ(Rows(cold), Rows(uncached));
  EXPECT_EQ(Rows(warm), Rows(uncached));
  // One entry per (dataset, subset): fmnist-val's one and fmnist-c's 75.
  EXPECT_EQ(after_cold.entries, 76);
  EXPECT_EQ(after_cold.misses, 76);
  EXPECT_EQ(after_cold.hits, 0);
  EXPECT_EQ(after_warm.hits, 76);
  EXPECT_EQ(after_warm.misses, 76);
}

}  // namespace
}  // namespace rib::engine
