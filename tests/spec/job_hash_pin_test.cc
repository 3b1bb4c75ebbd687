// The job hash of existing configurations must never change: a sweep resubmitted after
// an upgrade reuses its succeeded cells only if every job hashes as before. These
// hashes were computed by the code before the spec module existed (commit 0b3b52b);
// a change here is a break of every stored result, not a test to update.
//
// One deliberate exception (issue 15): lp, lora and vp now default to the reference
// code's behaviour, which computes something else, so a bare `lp` / `lora` / `vp` (and
// what reads them: lpft, a soup with lora) must NOT reuse results of the old
// computation: those hash anew. The old computation is now spelled {trainable: head},
// {train_extra: none}, {init: zeros}, and hashes exactly as before (the first test).
// Two more (issue 15 items 2 and 9, the last test): ewc's old Fisher is gone, so ewc
// hashes anew everywhere; a soup no longer averages θ_pre in unless {include_pre: yes},
// which hashes as before.
// And (issue 15 item 5): a job that trains batch-norm statistics on N > 1 devices is a
// new job, since without SyncBatchNorm it trains another model than on one device;
// every 1-device job, and every job without training-mode batch norm, hashes as before
// (DevicesAreInTheHashOnlyForTrainingModeBatchNorm).
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/sweep.h"
#include "tests/testing/status_matchers.h"

namespace rib::spec {
namespace {

using ::testing::ElementsAreArray;

// {LP}, {LORA}, {VP}: the spelling of those methods.
std::string PinSweep(const std::string& lp, const std::string& lora, const std::string& vp) {
  std::string yaml = R"(name: pin
models:
  - {name: vit, arch: fmnist_vit, weights: models/vit.safetensors}
methods:
  - ft
  - {kind: lora, params: {rank: 4{LORA}}}
  - {kind: vp{VP}}
  - {kind: lwf, params: {temperature: 3}}
  - ewc
  - l2sp
  - lpft
  - {name: wise, kind: wise-ft, params: {alpha: 0.25}}
  - {kind: soup, members: [ft, lora], params: {include_pre: yes}}
  - {kind: lp{LP}}
finetune_datasets: [fmnist-r]
eval_datasets: [fmnist-val, fmnist-c]
training: {lr: 0.01, epochs: 1, max_steps: 5, precision: fp32}
)";
  auto put = [&yaml](const std::string& key, const std::string& value) {
    yaml.replace(yaml.find(key), key.size(), value);
  };
  put("{LP}", lp);
  put("{LORA}", lora);
  put("{VP}", vp);
  return yaml;
}

std::vector<std::pair<std::string, std::string>> Hashes(const std::string& yaml) {
  std::vector<std::pair<std::string, std::string>> got;
  absl::StatusOr<SweepSpec> sweep = ParseSweepYaml(yaml, "pin.yaml");
  EXPECT_TRUE(sweep.ok()) << sweep.status();
  if (!sweep.ok()) return got;
  sweep->models[0].weights_digest = std::string(64, '0');
  absl::StatusOr<std::vector<PlannedJob>> jobs = ExpandSweep(*sweep);
  EXPECT_TRUE(jobs.ok()) << jobs.status();
  if (!jobs.ok()) return got;
  for (const PlannedJob& j : *jobs) got.emplace_back(j.key, j.hash);
  return got;
}

TEST(JobHashPin, EveryMethodKindHashesAsBefore) {
  // The behaviour every method had before issue 15, spelled out where it now has a
  // name: the same hashes as ever.
  const std::vector<std::pair<std::string, std::string>> got =
      Hashes(PinSweep(", params: {trainable: head}", ", train_extra: none",
                      ", params: {init: zeros}"));
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
      // Issue 15.2: the per-example Fisher on fmnist-val (the last test).
      {"vit/ewc/fmnist-r",
       "0475f9d31f7ec1071a033adc61b06786af7cb8d7e58dcf736b0ac18b3170521d"},
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

TEST(JobHashPin, TheReferenceDefaultsOfLpLoraAndVpAreNewJobs) {
  // Bare lp, lora and vp (the reference code's rows now), and what reads them (lpft,
  // the soup of ft and lora), hash anew; every other job as before.
  const std::vector<std::pair<std::string, std::string>> got = Hashes(PinSweep("", "", ""));
  const std::vector<std::pair<std::string, std::string>> want = {
      {"vit/pre", "746b3b591fd59e16a3ea0e83e7770ce736d60e6d39e7f6149dff7dec0a091cf2"},
      {"vit/ft/fmnist-r",
       "56e4af1c151032e4c9ab149f7f311af91b264be54418fc8ff7d93ddf16cd2789"},
      {"vit/lora/fmnist-r",
       "451fb5bc88c6d111a58f52f8cf95f24567946da07e77e4116e6a05c027e92c62"},
      {"vit/vp/fmnist-r",
       "220a5a6c59eea207d15917c4156fd41ed33d11e7790cf2ccd619ef371065af5f"},
      {"vit/lwf/fmnist-r",
       "b9ab04c9aa6f37263cd89ac3c33e8fe0a01a0d8a4e39de790c1a6ded942812e1"},
      // Issue 15.2: the per-example Fisher on fmnist-val (the last test).
      {"vit/ewc/fmnist-r",
       "0475f9d31f7ec1071a033adc61b06786af7cb8d7e58dcf736b0ac18b3170521d"},
      {"vit/l2sp/fmnist-r",
       "6d3e3aad2fecb0e25daaf9f1156a89f4ad8a01c156ec7bcba15be7e741f5019f"},
      {"vit/lp/fmnist-r",
       "36a9b69bb275fd6c64631de57f353e760b8d756d496705f5e083e20043607c19"},
      {"vit/lpft/fmnist-r",
       "b1891e7efbc604db911700fe246ee78c6195aa046829b98859e3359da7304592"},
      {"vit/wise/fmnist-r",
       "76d1ee66e788e5c99eafcef24220c9e15d7d08d6d9d2429e4350486fddef1ec5"},
      {"vit/soup/fmnist-r",
       "6996b7e3d969689d37ca6b7e5ab7ca40e2ff22c0a115e5800048c8e7299a7be8"},
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
  // Bare lp is the reference's HeadOnly since issue 15 (batch norm in train mode on a
  // ResNet): a new job. Before, "ac81ae0af9b5fbd2d1ee6f8ed6d58edb2329241ea768bd5ec5232"
  // "24e1783217a", which {trainable: head} still hashes to (first test).
  EXPECT_EQ(jobs[3].hash,
            "67f9cd252031d771bf1203bf8636d3bf34ef7de74e81ee0f870698b5bf0eacf3");
}

// The ImageNet models of a sweep without hub weights or timm tags. The ViT and the CLIP
// tower hash as before issue 15; the torchvision ResNet hashes anew, deliberately: it
// was preprocessed with bicubic resizing, but torchvision's Resize (and timm's tv_in1k
// pretrained_cfg) is bilinear. Its hash before was
// "0cb8ec9a82b4e6fffd93028f581da8d5f3c29d4d568935222f3ecbe6116c5683" (rn50/pre).
TEST(JobHashPin, UntaggedImagenetModels) {
  constexpr char kSweep[] = R"(name: pin-imagenet
suite: imagenet-rib
models:
  - {name: vit, arch: vit_base_patch16_224, weights: models/vit.safetensors}
  - {name: clip, arch: vit_base_patch16_clip_224, weights: models/clip.safetensors}
  - {name: rn50, arch: resnet50, weights: models/rn50.safetensors}
methods: [ft]
finetune_datasets: [imagenet-r]
eval_datasets: [imagenet-val, imagenet-r]
)";
  RIB_ASSERT_OK_AND_ASSIGN(SweepSpec sweep, ParseSweepYaml(kSweep, "pin.yaml"));
  for (ModelSpec& m : sweep.models) m.weights_digest = std::string(64, '0');
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<PlannedJob> jobs, ExpandSweep(sweep));
  std::vector<std::pair<std::string, std::string>> got;
  for (const PlannedJob& j : jobs) got.emplace_back(j.key, j.hash);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"vit/pre",
       "3591f4071ca3f7bc9c83a7442730dd92d8d8dbdd29217130b7118ca1f8631cea"},
      {"vit/ft/imagenet-r",
       "b6f7f715eb0f1df9baabd07b9948dcf65e04a83b424513729a991547506749e7"},
      {"clip/pre",
       "66f47ab1b3b62096a7bcc9ed6b54bef0219d6d2b1f439c267259178b302b1133"},
      {"clip/ft/imagenet-r",
       "1a97034c7204a33f236859945983926273f68678c2b1f02096b009b90faee64d"},
      {"rn50/pre",
       "376105a1c652e49c8f75f12a8e5ec775e1935eccf23e322ce4244e605683ef30"},
      {"rn50/ft/imagenet-r",
       "abb4699ee5f4db953780d74e4e27445089a39421aaed6d883ed8e713eacd5e8f"},
  };
  EXPECT_THAT(got, ElementsAreArray(want));
}

// ---- seeds: [...] (issue 15.9) ----
// A sweep with seeds runs every job once per seed as its training.seed, which the
// hash always covered: seed 0's jobs hash exactly as the same sweep without seeds (so
// adding seeds to a sweep reuses its results), the other seeds' hash anew (pinned).
TEST(JobHashPin, SeedZeroOfASweepWithSeedsHashesAsTheSweepWithout) {
  const std::string plain = PinSweep("", "", "");
  std::string seeded = plain;
  seeded.replace(seeded.find("training:"), 0, "seeds: [0, 1]\n");
  const auto without = Hashes(plain);
  const auto with = Hashes(seeded);
  ASSERT_EQ(with.size(), 2 * without.size());
  for (size_t i = 0; i < without.size(); ++i) {
    EXPECT_EQ(with[i].first, without[i].first + "@seed=0");
    EXPECT_EQ(with[i].second, without[i].second) << with[i].first;
  }
  const std::vector<std::pair<std::string, std::string>> seed1(
      with.begin() + static_cast<std::ptrdiff_t>(without.size()), with.end());
  const std::vector<std::pair<std::string, std::string>> want = {
      {"vit/pre@seed=1",
       "5e18a08abc22e996d7159905b62e100c56cfe5d425855ae2372ff676ee906822"},
      {"vit/ft/fmnist-r@seed=1",
       "2e7e31e654b59c62b8adf8856e42d2c7a234ccfe24b4b07efaefc039e23a6bb0"},
      {"vit/lora/fmnist-r@seed=1",
       "1a9748d736ce66d7cc17b4c0ee2951c80938099afbfd158fba5363811eeeb1f5"},
      {"vit/vp/fmnist-r@seed=1",
       "536af92274b73ed417b067e88fecf4f31ffdd61484c04f2d4eaf036b3734fd69"},
      {"vit/lwf/fmnist-r@seed=1",
       "82f15db431a0e6811f7ad1a49838ca75417f091eed94a5174c547eae15e816e1"},
      // ewc's per-example Fisher (issue 15.2, below) is a new computation: a new hash.
      {"vit/ewc/fmnist-r@seed=1",
       "b88b30a31500f5c9695d2a20ca5f8b2f06787bace5d9954d39ecfaa90f85a6cf"},
      {"vit/l2sp/fmnist-r@seed=1",
       "01e8e0408c263623717d4d9e2ab8dbea696eb900640dcaa4a58bf3f8219d55d8"},
      {"vit/lp/fmnist-r@seed=1",
       "c2f24b24a923f29e55da4c66c0669841fb95215c243d897b072cd1dd32acca99"},
      {"vit/lpft/fmnist-r@seed=1",
       "4cce731c54ef2142fcad05c4b0ef3d63994dc92113ae659ca4e980eafda5342f"},
      {"vit/wise/fmnist-r@seed=1",
       "9019e46e340cea6873bb686adcf490c5c9727487c698eac04180c94b2cb09ecb"},
      {"vit/soup/fmnist-r@seed=1",
       "2a00bd6ab3b3df760eeb482769e629a18d41939fdcbb15f3a50706d90af90833"},
  };
  EXPECT_THAT(seed1, ElementsAreArray(want));
}

// Issue 15.2: ewc's Fisher is now the per-example empirical Fisher on the suite's
// pre-training validation set (spec/methods.h), not the squared batch-mean gradient on
// the fine-tuning data. The old computation is gone, so every ewc job hashes anew and
// must not reuse results of the old one (the two tests above carry a bare ewc's new
// hash; before: 2fae96e71e1e070ef04bac9191bda6f05c65ca9019c17bc17cb6a9708f05e009).
// The default lambda became 100 when the engine stopped multiplying the Fisher by λ
// twice (the same penalty as the old default 10 applied): the default's text is in the
// hash, so a bare ewc hashes anew once more (before: d2af7183...; with seed=1 1e466a8c...;
// ewc-val c869d57b...).
// Issue 15.9: a soup averages its listed members only; {include_pre: yes} is the old
// computation (θ_pre averaged in) and hashes as before (the tests above spell it so),
// a bare soup is a new job.
// Naming the default Fisher dataset by its key is another job text, so another hash
// for the same computation (as vp's pad: methods_test's known wart).
TEST(JobHashPin, EwcWithThePerExampleFisherAndSoupsOfTheirMembersAreNewJobs) {
  constexpr char kEwc[] = R"(name: pin-ewc
models:
  - {name: vit, arch: fmnist_vit, weights: models/vit.safetensors}
methods:
  - ewc
  - {name: ewc-val, kind: ewc, params: {fisher_dataset: fmnist-val}}
  - {name: ewc-big, kind: ewc, params: {fisher_samples: 4096, lambda: 100}}
  - ft
  - {name: soup-pre, kind: soup, members: [ft], params: {include_pre: yes}}
  - {name: soup, kind: soup, members: [ft]}
finetune_datasets: [fmnist-r]
eval_datasets: [fmnist-val, fmnist-c]
training: {lr: 0.01, epochs: 1, max_steps: 5, precision: fp32}
)";
  const std::vector<std::pair<std::string, std::string>> want = {
      {"vit/pre", "746b3b591fd59e16a3ea0e83e7770ce736d60e6d39e7f6149dff7dec0a091cf2"},
      {"vit/ewc/fmnist-r",
       "0475f9d31f7ec1071a033adc61b06786af7cb8d7e58dcf736b0ac18b3170521d"},
      {"vit/ewc-val/fmnist-r",
       "ed2130b1798c977e37dcb5887444ba58b843d1f48d9902a347df6714fc433494"},
      {"vit/ewc-big/fmnist-r",
       "039b654154596c7acf60a4e3ef5b663ccf01279e8fe5eb8249763e5f539e8047"},
      {"vit/ft/fmnist-r",
       "56e4af1c151032e4c9ab149f7f311af91b264be54418fc8ff7d93ddf16cd2789"},
      {"vit/soup-pre/fmnist-r",
       "6aecda5718d791fd9a25c59d9ab2d43591d5780e51911e58cde908439ae8a794"},
      {"vit/soup/fmnist-r",
       "79399e46a44aca3cb348d3cd30db81d6eef79777e16c322150f644a106381972"},
  };
  EXPECT_THAT(Hashes(kEwc), ElementsAreArray(want));
}

TEST(JobHashPin, DevicesAreInTheHashOnlyForTrainingModeBatchNorm) {
  auto hashes = [](const std::string& arch, int devices) {
    const std::string yaml = absl::StrCat(R"(name: devices
devices: )", devices, R"(
models:
  - {name: m, arch: )", arch, R"(, weights: models/m.safetensors}
methods:
  - ft
  - {name: head, kind: lp, params: {trainable: head}}
  - {name: ref, kind: lp}
  - vp
  - l2sp
  - {name: wise, kind: wise-ft}
finetune_datasets: [fmnist-r]
eval_datasets: [fmnist-val, fmnist-c]
training: {lr: 0.01, epochs: 1, max_steps: 5}
)");
    std::map<std::string, std::string> out;
    for (const auto& [key, hash] : Hashes(yaml)) out[key] = hash;
    return out;
  };
  std::map<std::string, std::string> one = hashes("fmnist_resnet", 1);
  std::map<std::string, std::string> two = hashes("fmnist_resnet", 2);
  ASSERT_EQ(one.size(), 7u);
  // The 1-device ResNet ft job is the short demo's pinned hash's sibling: unchanged by
  // this rule (devices 1 is never in the hash).
  for (const char* key : {"m/ft/fmnist-r", "m/ref/fmnist-r", "m/l2sp/fmnist-r",
                          "m/wise/fmnist-r"}) {
    EXPECT_NE(one.at(key), two.at(key)) << key << ": batch norm trains, devices matter";
  }
  for (const char* key : {"m/pre", "m/head/fmnist-r", "m/vp/fmnist-r"}) {
    EXPECT_EQ(one.at(key), two.at(key)) << key << ": no batch norm in train mode";
  }
  // A ViT has no batch norm: every job is shared between 1 and 2 devices.
  EXPECT_EQ(hashes("fmnist_vit", 1), hashes("fmnist_vit", 2));
}

}  // namespace
}  // namespace rib::spec
