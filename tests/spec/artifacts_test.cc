// The artifact path layout.
#include "spec/artifacts.h"

#include "gtest/gtest.h"

namespace rib::spec {
namespace {

TEST(Artifacts, JobOutputsAreNamedByTheHash) {
  const JobOutputs out = JobOutputPaths("/a", "h1");
  EXPECT_EQ(out.weights, "/a/weights/h1.safetensors");
  EXPECT_EQ(out.extra_weights, "/a/weights/h1.extra.safetensors");
  EXPECT_EQ(out.checkpoint_dir, "/a/checkpoints/h1");
  // A dependent finds its input where the job wrote it.
  EXPECT_EQ(WeightsPath("/a", "h1"), out.weights);
  EXPECT_EQ(WeightsDir("/a"), "/a/weights");
  EXPECT_EQ(AttemptDir(RunsDir("/a"), "j7", 2), "/a/runs/j7/attempt-2");
}

}  // namespace
}  // namespace rib::spec
