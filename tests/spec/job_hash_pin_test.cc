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
// Issue 15.9's held-out protocol (j != i evaluated on every image not trained on, bits
// over all of j) is another evaluation than the test-split-only one, so every
// `split: heldout` job but otdd hashes anew, deliberately: its canonical JSON gained
// "eval": {"images": "not-trained-on"} and nothing else (the old hashes are quoted
// above each pin; TheHeldOutProtocolIsTheOnlyChange checks that without that entry the
// jobs that read no other job's weights hash exactly as before). `split: reference`
// and otdd jobs hash as before.
// And (issue 15 item 5): a job that trains batch-norm statistics on N > 1 devices is a
// new job, since without SyncBatchNorm it trains another model than on one device;
// every 1-device job, and every job without training-mode batch norm, hashes as before
// (DevicesAreInTheHashOnlyForTrainingModeBatchNorm).
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "common/status_macros.h"
#include "spec/job_json.h"
#include "spec/methods.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spec/sweep.h"
#include "tests/testing/status_matchers.h"

namespace rib::spec {
namespace {

using ::testing::ElementsAreArray;

// Pins several tests share (jobs whose configuration those tests do not vary). Before
// issue 15.9's held-out protocol (TheHeldOutProtocolIsTheOnlyChange) they were
// pre 746b3b59..., ft 56e4af1c..., lwf b9ab04c9..., ewc 0475f9d3..., l2sp 6d3e3aad...
// and wise 76d1ee66...
std::string Shared(const std::string& key) {
  static const auto* pins = new std::map<std::string, std::string>{
      {"vit/pre",
       "871dfb78d6183210ee59ffbbbe3717054f465fadabffcae61220ad87accd87b8"},
      {"vit/ft/fmnist-r",
       "ab0607a6afa0a90d71d79f8c017d44d2ede5cf325ef92cd5c11126c31bdaf406"},
      {"vit/lwf/fmnist-r",
       "4afdeb161de47496f3e8c6d818dcaa58d4cf614f24bead45cb3200d47a164ad9"},
      {"vit/ewc/fmnist-r",
       "a126871fe706047b013da2d8ba1756683de371875a9defa21d808d0a4e24da73"},
      {"vit/l2sp/fmnist-r",
       "e7b74e434756c98420de32f2574fc7023e5ef45d4f34e2306fcffba8fcdf256a"},
      {"vit/wise/fmnist-r",
       "6fdf23f022f4a426da01e483691b1158ce687e09d29ffa46c12cb21621127dee"},
  };
  return pins->at(key);
}

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
  // name: the same hashes as ever, but for issue 15.9's held-out protocol (above).
  const std::vector<std::pair<std::string, std::string>> got =
      Hashes(PinSweep(", params: {trainable: head}", ", train_extra: none",
                      ", params: {init: zeros}"));
  const std::vector<std::pair<std::string, std::string>> want = {
      {"vit/pre", Shared("vit/pre")},
      {"vit/ft/fmnist-r", Shared("vit/ft/fmnist-r")},
      // before issue 15.9's held-out protocol: 22f01b19a5e77e6e...
      {"vit/lora/fmnist-r",
       "3ad25744b1cce4d5902b7a870c0a273d30c1e6cd535ba18f39ad223b483e4348"},
      // before issue 15.9's held-out protocol: 54031329b5cc7e0f...
      {"vit/vp/fmnist-r",
       "af41115438fb4e77c5e7ea2386c36f98939ee5c7bc0875f4c55247b3dfd90955"},
      {"vit/lwf/fmnist-r", Shared("vit/lwf/fmnist-r")},
      // Issue 15.2: the per-example Fisher on fmnist-val (the last test).
      {"vit/ewc/fmnist-r", Shared("vit/ewc/fmnist-r")},
      {"vit/l2sp/fmnist-r", Shared("vit/l2sp/fmnist-r")},
      // before issue 15.9's held-out protocol: 2c5ae041f4bdfb19...
      {"vit/lp/fmnist-r",
       "d6a004ad749bc3e17147a2ebf9b1c1ddd26a23f4a6e3693d1c812e24da539d37"},
      // before issue 15.9's held-out protocol: 34511bf15acf2b4c...
      {"vit/lpft/fmnist-r",
       "9c68b0d5a26067c726ddcb8deef150fba8cb7ea7b57c9accc6eac6ae2b40a338"},
      {"vit/wise/fmnist-r", Shared("vit/wise/fmnist-r")},
      // before issue 15.9's held-out protocol: 6a24d68297f6387f...
      {"vit/soup/fmnist-r",
       "44b21d833970e43965d46a020a0de967d7512314132870ebd5d0d62c9ffcdf0c"},
  };
  EXPECT_THAT(got, ElementsAreArray(want));
}

TEST(JobHashPin, TheHeldOutProtocolIsTheOnlyChange) {
  absl::StatusOr<SweepSpec> sweep =
      ParseSweepYaml(PinSweep(", params: {trainable: head}", ", train_extra: none",
                              ", params: {init: zeros}"),
                     "pin.yaml");
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  sweep->models[0].weights_digest = std::string(64, '0');
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<PlannedJob> jobs, ExpandSweep(*sweep));
  // The pins of EveryMethodKindHashesAsBefore before issue 15.9, of the jobs whose
  // hash covers no other job's (lpft, wise-ft and soup carry their inputs' new hashes).
  const std::map<std::string, std::string> before = {
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
       "0475f9d31f7ec1071a033adc61b06786af7cb8d7e58dcf736b0ac18b3170521d"},
      {"vit/l2sp/fmnist-r",
       "6d3e3aad2fecb0e25daaf9f1156a89f4ad8a01c156ec7bcba15be7e741f5019f"},
      {"vit/lp/fmnist-r",
       "2c5ae041f4bdfb19c8c6b1dab7db373b67d1bd5aed8b8df7b049c02bdbd00470"},
  };
  const std::string kEntry = R"("images":"not-trained-on",)";
  int checked = 0;
  for (const PlannedJob& j : jobs) {
    auto it = before.find(j.key);
    if (it == before.end()) continue;
    std::string json = CanonicalJobJson(j.spec);
    const size_t at = json.find(kEntry);
    ASSERT_NE(at, std::string::npos) << j.key << ": " << json;
    json.erase(at, kEntry.size());
    EXPECT_EQ(Sha256Hex(json), it->second) << j.key;
    ++checked;
  }
  EXPECT_EQ(checked, 8);
  // split: reference and otdd jobs do not carry it: they hash as before.
  for (PlannedJob& j : jobs) {
    j.spec.split = "reference";
    EXPECT_EQ(CanonicalJobJson(j.spec).find(kEntry), std::string::npos) << j.key;
  }
  JobSpec otdd = jobs[0].spec;
  otdd.split = "heldout";
  otdd.method.kind = otdd.method.name = kOtddKind;
  EXPECT_EQ(CanonicalJobJson(otdd).find("not-trained-on"), std::string::npos);
}

TEST(JobHashPin, TheReferenceDefaultsOfLpLoraAndVpAreNewJobs) {
  // Bare lp, lora and vp (the reference code's rows now), and what reads them (lpft,
  // the soup of ft and lora), hash anew; every other job as before.
  const std::vector<std::pair<std::string, std::string>> got = Hashes(PinSweep("", "", ""));
  // Before issue 15.9's held-out protocol: lora 451fb5bc..., vp 220a5a6c..., lp
  // 36a9b69b..., lpft b1891e7e..., soup 6996b7e3....
  const std::map<std::string, std::string> anew = {
      {"vit/lora/fmnist-r",
       "476bdab1d03a6218c790170f4762ccf882dfc1aafeba1c0450d1ceba5a3bdd0a"},
      {"vit/vp/fmnist-r",
       "208c89660520688531656fc4a1412ce0f62f0e56c72c177e3998286c2f31b4d3"},
      {"vit/lp/fmnist-r",
       "9f7626dac4da623cd13e8cd466f8dadd281375a29071ef6b73a817d7bf61d015"},
      {"vit/lpft/fmnist-r",
       "28e767dee2bc01b520a9d55d06bc49baf2fcefe85bc217f623eb4b657ad26a62"},
      {"vit/soup/fmnist-r",
       "4d74275be798d0062ac62350d5a115a544486ef52563b9b80dcc79d2970e11f9"},
  };
  std::vector<std::pair<std::string, std::string>> want;
  for (const char* key : {"vit/pre", "vit/ft/fmnist-r", "vit/lora/fmnist-r",
                          "vit/vp/fmnist-r", "vit/lwf/fmnist-r", "vit/ewc/fmnist-r",
                          "vit/l2sp/fmnist-r", "vit/lp/fmnist-r", "vit/lpft/fmnist-r",
                          "vit/wise/fmnist-r", "vit/soup/fmnist-r"}) {
    // Issue 15.2: ewc is the per-example Fisher on fmnist-val (the last test).
    want.emplace_back(key, anew.count(key) ? anew.at(key) : Shared(key));
  }
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
  // before issue 15.9's held-out protocol: 05a6caf8c007f2da...
  EXPECT_EQ(jobs[0].hash,
            "1fb2185ad6d47944260d2c98f930c41edbf2df1c79fdac2892cb570a4ac6753d");
  EXPECT_EQ(jobs[1].key, "resnet-plain/ft/fmnist-v2");
  // before issue 15.9's held-out protocol: 2cf3889ed9cdcd4f...
  EXPECT_EQ(jobs[1].hash,
            "1c8ac4131b156f569a0ded068b97549c88d2baaa93af08f193394b1d75af8682");
  EXPECT_EQ(jobs[3].key, "resnet-plain/lp/fmnist-v2");
  // Bare lp is the reference's HeadOnly since issue 15 (batch norm in train mode on a
  // ResNet): a new job. Before, "ac81ae0af9b5fbd2d1ee6f8ed6d58edb2329241ea768bd5ec5232"
  // "24e1783217a", which {trainable: head} still hashes to (first test).
  // before issue 15.9's held-out protocol: 67f9cd252031d771...
  EXPECT_EQ(jobs[3].hash,
            "dfa468f391670585d283ce595a6f456fe29735d9ed61f6abe2cb6373887efa44");
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
      // before issue 15.9's held-out protocol: 3591f4071ca3f7bc...
      {"vit/pre",
       "8f16cfa0e5311e61e18c9424ea9b09b23cbcc66e99e822b328fa2c7eb478a75e"},
      // before issue 15.9's held-out protocol: b6f7f715eb0f1df9...
      {"vit/ft/imagenet-r",
       "2437a2e87672ab3b05df750fa04f9f5588beb2f9bada85c768314cb14e01465b"},
      // before issue 15.9's held-out protocol: 66f47ab1b3b62096...
      {"clip/pre",
       "a9963dcd5cefa7b1ee98ff64803c05ec4c3bfc17de34dbeb6c008e26ea7cf56f"},
      // before issue 15.9's held-out protocol: 1a97034c7204a33f...
      {"clip/ft/imagenet-r",
       "87b88bc2099a5053a76876ce2ace9a02c3b9de1112d1c676e48b107f33fa14d9"},
      // before issue 15.9's held-out protocol: 376105a1c652e49c...
      {"rn50/pre",
       "3fb2522c9819844fcbc3a4cb6118e84bdbf478d5c0863c01fe0e5a1a0bc44526"},
      // before issue 15.9's held-out protocol: abb4699ee5f4db95...
      {"rn50/ft/imagenet-r",
       "211834b004616735e3342e4badec7f353f1c1b0329bc89822a74c69b3d11dd9d"},
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
      // before issue 15.9's held-out protocol: 5e18a08abc22e996...
      {"vit/pre@seed=1",
       "0aafd4e6fb92a9c1f5b3935e95467b8e7669b25b4ca0e69bb5f8cca411872380"},
      // before issue 15.9's held-out protocol: 2e7e31e654b59c62...
      {"vit/ft/fmnist-r@seed=1",
       "f9027b658ba67372d7e545d486e4391a0599a1f137877b333649cd3628a2cb6a"},
      // before issue 15.9's held-out protocol: 1a9748d736ce66d7...
      {"vit/lora/fmnist-r@seed=1",
       "b77346ed40a8885da7ee6e457fceb7d4411d701528d5a0d100ebbde1172edb50"},
      // before issue 15.9's held-out protocol: 536af92274b73ed4...
      {"vit/vp/fmnist-r@seed=1",
       "df156a82a2a17eb0b131ca9f9379fb59f452d6ceb21e6116e01f1680e404476b"},
      // before issue 15.9's held-out protocol: 82f15db431a0e681...
      {"vit/lwf/fmnist-r@seed=1",
       "5c46d221cd8b135654f309887bd4894b7c5bea05b77b9217924233e5889d933d"},
      // ewc's per-example Fisher (issue 15.2, below) is a new computation: a new hash.
      // before issue 15.9's held-out protocol: b88b30a31500f5c9...
      {"vit/ewc/fmnist-r@seed=1",
       "d3a823a414c9ed8ab2371d67e95645968f769fab5bce71042983ab4da847d6fa"},
      // before issue 15.9's held-out protocol: 01e8e0408c263623...
      {"vit/l2sp/fmnist-r@seed=1",
       "4c7b4b3e3bba9d0b4c6d0a0cd7806d691017c9fc0b73bb0707cb6c827492544c"},
      // before issue 15.9's held-out protocol: c2f24b24a923f29e...
      {"vit/lp/fmnist-r@seed=1",
       "d2f67cdd1c190b7145adf271c5b970fa7fd891f92d892568a9258720a807b2b9"},
      // before issue 15.9's held-out protocol: 4cce731c54ef2142...
      {"vit/lpft/fmnist-r@seed=1",
       "38864916dae1cc06627031668c1233e483f534d915b4c1a6acbcfcf5ef2f7090"},
      // before issue 15.9's held-out protocol: 9019e46e340cea68...
      {"vit/wise/fmnist-r@seed=1",
       "d6f4b4150e68bdd48169aca6a37f16be76917f0df71c046281e24cbb5ea396f0"},
      // before issue 15.9's held-out protocol: 2a00bd6ab3b3df76...
      {"vit/soup/fmnist-r@seed=1",
       "7e79897551e971aa39c47f085eab3fb44ae0894e4d213a25f0168a2799b3d200"},
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
      {"vit/pre", Shared("vit/pre")},
      {"vit/ewc/fmnist-r", Shared("vit/ewc/fmnist-r")},
      // before issue 15.9's held-out protocol: ed2130b1798c977e...
      {"vit/ewc-val/fmnist-r",
       "0d2727a88d1a472273b46d43bc81f6755724f56eacdc50b83d62434a9cd59823"},
      // before issue 15.9's held-out protocol: 039b654154596c7a...
      {"vit/ewc-big/fmnist-r",
       "cd33de6bc8488f2a6b90b5747f3a3c905447c028be77f3ddfbc0ced9ea5aa6fd"},
      {"vit/ft/fmnist-r", Shared("vit/ft/fmnist-r")},
      // before issue 15.9's held-out protocol: 6aecda5718d791fd...
      {"vit/soup-pre/fmnist-r",
       "10e710e3b9bde6b6d57d6402a996e493c147ef40c1bb001f006ff58dac910b0f"},
      // before issue 15.9's held-out protocol: 79399e46a44aca3c...
      {"vit/soup/fmnist-r",
       "7531a4c83f8a92035435a20ea269a0d46fc7178d043d7c1ef66e51bf36b8f9aa"},
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
