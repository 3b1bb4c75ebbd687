// The job hash of existing configurations must never change: a sweep resubmitted after
// an upgrade reuses its succeeded cells only if every job hashes as before. These
// hashes were computed by the code before the spec module existed (commit 0b3b52b);
// a change here is a break of every stored result, not a test to update.
#include <string>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/sweep.h"
#include "tests/testing/status_matchers.h"

namespace rib::spec {
namespace {

using ::testing::ElementsAreArray;

constexpr char kSweep[] = R"(name: pin
models:
  - {name: vit, arch: fmnist_vit, weights: models/vit.safetensors}
methods:
  - ft
  - {kind: lora, params: {rank: 4}}
  - {kind: vp}
  - {kind: lwf, params: {temperature: 3}}
  - ewc
  - l2sp
  - lpft
  - {name: wise, kind: wise-ft, params: {alpha: 0.25}}
  - {kind: soup, members: [ft, lora]}
finetune_datasets: [fmnist-r]
eval_datasets: [fmnist-val, fmnist-c]
training: {lr: 0.01, epochs: 1, max_steps: 5, precision: fp32}
)";

TEST(JobHashPin, EveryMethodKindHashesAsBefore) {
  RIB_ASSERT_OK_AND_ASSIGN(SweepSpec sweep, ParseSweepYaml(kSweep, "pin.yaml"));
  sweep.models[0].weights_digest = std::string(64, '0');
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<PlannedJob> jobs, ExpandSweep(sweep));
  std::vector<std::pair<std::string, std::string>> got;
  for (const PlannedJob& j : jobs) got.emplace_back(j.key, j.hash);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"vit/pre", "746b3b591fd59e16a3ea0e83e7770ce736d60e6d39e7f6149dff7dec0a091cf2"},
      {"vit/ft/fmnist-r",
       "56e4af1c151032e4c9ab149f7f311af91b264be54418fc8ff7d93ddf16cd2789"},
      {"vit/lora/fmnist-r",
       "22f01b19a5e77e6eafc22fcdecff223b06a87f111b94e6a7fe7cb1d192f72be1"},
      {"vit/vp/fmnist-r",
       "54031329b5cc7e0fea1558fe76fe34f92e21155f90fb19bde471c0823584e1de"},
      {"vit/lwf/fmnist-r",
       "b9ab04c9aa6f37263cd89ac3c33e8fe0a01a0d8a4e39de790c1a6ded942812e1"},
      {"vit/ewc/fmnist-r",
       "2fae96e71e1e070ef04bac9191bda6f05c65ca9019c17bc17cb6a9708f05e009"},
      {"vit/l2sp/fmnist-r",
       "6d3e3aad2fecb0e25daaf9f1156a89f4ad8a01c156ec7bcba15be7e741f5019f"},
      {"vit/lp/fmnist-r",
       "2c5ae041f4bdfb19c8c6b1dab7db373b67d1bd5aed8b8df7b049c02bdbd00470"},
      {"vit/lpft/fmnist-r",
       "34511bf15acf2b4c9331586d63ac5970e00aba69392eed8e13cf627db19c82a1"},
      {"vit/wise/fmnist-r",
       "76d1ee66e788e5c99eafcef24220c9e15d7d08d6d9d2429e4350486fddef1ec5"},
      {"vit/soup/fmnist-r",
       "6a24d68297f6387f87665034e281dc8abe3151fbfc0d39ff00fd570de5f9f3ae"},
  };
  EXPECT_THAT(got, ElementsAreArray(want));
}

TEST(JobHashPin, TheShortDemoSweepHashesAsBefore) {
  // scripts/demo_sweep_short.yaml's model and first cells (the e2e demo's sweep).
  constexpr char kShort[] = R"(name: fmnist-rib-demo-short
suite: fmnist-rib
max_attempts: 3
devices: 1
models:
  - name: resnet-plain
    arch: fmnist_resnet
    weights: models/fmnist_resnet_plain.safetensors
methods:
  - ft
  - lp
  - {name: wise, kind: wise-ft, params: {alpha: 0.5}}
finetune_datasets: [fmnist-v2, fmnist-sketch]
eval_datasets: [fmnist-val, fmnist-v2, fmnist-sketch, fmnist-c]
training:
  lr: 0.01
  epochs: 1
  batch_size: 64
  warmup_steps: 2
  max_steps: 5
)";
  RIB_ASSERT_OK_AND_ASSIGN(SweepSpec sweep, ParseSweepYaml(kShort, "short.yaml"));
  sweep.models[0].weights_digest = std::string(64, '0');
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<PlannedJob> jobs, ExpandSweep(sweep));
  ASSERT_GE(jobs.size(), 4u);
  EXPECT_EQ(jobs[0].key, "resnet-plain/pre");
  EXPECT_EQ(jobs[0].hash,
            "05a6caf8c007f2da7642f4d8c5568c31207d4e2c0f537acc51628075ffc7f5a0");
  EXPECT_EQ(jobs[1].key, "resnet-plain/ft/fmnist-v2");
  EXPECT_EQ(jobs[1].hash,
            "2cf3889ed9cdcd4f33b2d489a79ef0a5e751da6e38953f7804e753685e89b184");
  EXPECT_EQ(jobs[3].key, "resnet-plain/lp/fmnist-v2");
  EXPECT_EQ(jobs[3].hash,
            "ac81ae0af9b5fbd2d1ee6f8ed6d58edb2329241ea768bd5ec523224e1783217a");
}

}  // namespace
}  // namespace rib::spec
