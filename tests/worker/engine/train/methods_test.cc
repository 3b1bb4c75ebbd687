// The defining property of every fine-tuning method (DESIGN §6), on a tiny model.
#include "worker/engine/methods.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "spec/methods.h"
#include "tests/testing/status_matchers.h"
#include "worker/engine/model.h"
#include "tests/worker/engine/train/tiny_model.h"

namespace rib::engine {
namespace {

using ::rib::engine::testing::AsClassifier;
using ::rib::engine::testing::TinyClassifier;
using ::rib::engine::testing::TinyData;
using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;
using ::testing::HasSubstr;

TrainingConfig Config() {
  TrainingConfig config;
  config.lr = 0.1;
  config.epochs = 2;
  config.warmup_steps = 2;
  config.seed = 5;
  return config;
}

struct Trained {
  TensorMap initial;
  TensorMap final_weights;
  TinyClassifier model{nullptr};
  std::unique_ptr<TrainingMethod> method;
};

// Applies `spec` to `model` and trains it for Config() on `images`, `labels` (3
// classes); the trained weights and the method.
struct TrainedModel {
  TensorMap initial;
  TensorMap final_weights;
  std::unique_ptr<TrainingMethod> method;
};
absl::StatusOr<TrainedModel> TrainModel(Classifier model, const MethodSpec& spec,
                                        torch::Tensor images, torch::Tensor labels) {
  TrainedModel out;
  out.initial = CloneWeights(ModelWeights(*model));
  TensorTrainData::Options data_options;
  data_options.batch_size = 8;
  data_options.seed = 5;
  TensorTrainData data(images, labels, data_options);
  MethodContext context;
  context.model = model;
  context.mask = LabelMask::Identity(model->num_classes());
  RIB_ASSIGN_OR_RETURN(out.method, TrainingMethod::Create(spec, context));
  TrainOptions options;
  options.config = Config();
  RIB_RETURN_IF_ERROR(Train(out.method->setup(), data, options, nullptr).status());
  out.final_weights = CloneWeights(ModelWeights(*model));
  return out;
}

// Builds the tiny model from seed 11 ("pre-trained" weights), applies `spec`, trains.
absl::StatusOr<Trained> TrainWith(const MethodSpec& spec, bool finish = true) {
  Trained out;
  torch::manual_seed(11);
  out.model = TinyClassifier();
  out.initial = CloneWeights(ModelWeights(*out.model));
  auto [images, labels] = TinyData(48, 2);
  TensorTrainData::Options data_options;
  data_options.batch_size = 8;
  data_options.seed = 5;
  TensorTrainData data(images, labels, data_options);
  MethodContext context;
  context.model = AsClassifier(out.model);
  context.mask = LabelMask::Identity(3);
  // ewc's Fisher sample: other examples of the same task (the "pre-training" data).
  auto [fisher_images, fisher_labels] = TinyData(40, 9);
  std::unique_ptr<BatchStream> fisher =
      MakeTensorStream(fisher_images, fisher_labels, 16);
  context.fisher_data = fisher.get();
  context.fisher_mask = LabelMask::Identity(3);
  context.new_model = []() -> absl::StatusOr<Classifier> {
    return AsClassifier(TinyClassifier());
  };
  auto method = TrainingMethod::Create(spec, context);
  if (!method.ok()) return method.status();
  out.method = std::move(*method);
  TrainOptions options;
  options.config = Config();
  auto summary = Train(out.method->setup(), data, options, nullptr);
  if (!summary.ok()) return summary.status();
  if (finish) {
    absl::Status status = out.method->Finish();
    if (!status.ok()) return status;
  }
  out.final_weights = CloneWeights(ModelWeights(*out.model));
  return out;
}

MethodSpec Spec(const std::string& kind, std::map<std::string, std::string> params = {}) {
  MethodSpec spec;
  spec.name = kind;
  spec.kind = kind;
  spec.params = std::move(params);
  return spec;
}

void ExpectClose(const TensorMap& a, const TensorMap& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(torch::allclose(t.to(torch::kDouble), b.at(name).to(torch::kDouble), 0, tol))
        << name << " max diff "
        << (t.to(torch::kDouble) - b.at(name).to(torch::kDouble)).abs().max().item<double>();
  }
}

bool Changed(const Trained& t, const std::string& name) {
  return !torch::equal(t.initial.at(name), t.final_weights.at(name));
}

TEST(MethodsTest, FtChangesEverything) {
  RIB_ASSERT_OK_AND_ASSIGN(Trained ft, TrainWith(Spec("ft")));
  for (const char* name : {"body.weight", "norm.weight", "norm.running_mean", "head.weight"}) {
    EXPECT_TRUE(Changed(ft, name)) << name;
  }
}

TEST(MethodsTest, LpHeadChangesOnlyTheHead) {
  RIB_ASSERT_OK_AND_ASSIGN(Trained lp, TrainWith(Spec("lp", {{"trainable", "head"}})));
  for (const auto& [name, t] : lp.initial) {
    if (name == "head.weight" || name == "head.bias") {
      EXPECT_TRUE(Changed(lp, name)) << name;
    } else {
      EXPECT_FALSE(Changed(lp, name)) << name;  // including batch-norm statistics
    }
  }
}

// The reference's HeadOnly on a network without embedding parameters (a ResNet): the
// head only is trained, but in train mode, so batch-norm statistics move.
TEST(MethodsTest, LpByDefaultIsTheReferencesHeadOnlyWithBatchNormInTrainMode) {
  RIB_ASSERT_OK_AND_ASSIGN(Trained lp, TrainWith(Spec("lp")));
  for (const auto& [name, t] : lp.initial) {
    const bool moves = name == "head.weight" || name == "head.bias" ||
                       name == "norm.running_mean" || name == "norm.running_var" ||
                       name == "norm.num_batches_tracked";
    EXPECT_EQ(Changed(lp, name), moves) << name;
  }
}

// On a ViT the reference's HeadOnly also trains cls_token, pos_embed and the final
// norm; the patch embedding and the blocks stay as they were. {trainable: head} trains
// the head alone.
TEST(MethodsTest, LpOnAVitTrainsTheHeadAndTheEmbeddingParameters) {
  torch::manual_seed(3);
  RIB_ASSERT_OK_AND_ASSIGN(Classifier vit, CreateModel("fmnist_vit", 3));
  const int64_t side = vit->image_size();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  torch::Tensor images = torch::randn({16, vit->in_channels(), side, side}, gen);
  torch::Tensor labels = torch::randint(3, {16}, gen, torch::kLong);
  const std::vector<std::string> embedding = vit->EmbeddingParameterNames();
  EXPECT_THAT(embedding, ::testing::IsSupersetOf({"cls_token", "pos_embed", "norm.weight",
                                                  "norm.bias"}));
  RIB_ASSERT_OK_AND_ASSIGN(Classifier copy, CreateModel("fmnist_vit", 3));
  ASSERT_THAT(LoadWeights(*copy, CloneWeights(ModelWeights(*vit))), IsOk());

  RIB_ASSERT_OK_AND_ASSIGN(TrainedModel reference,
                           TrainModel(vit, Spec("lp"), images, labels));
  RIB_ASSERT_OK_AND_ASSIGN(TrainedModel head,
                           TrainModel(copy, Spec("lp", {{"trainable", "head"}}), images,
                                      labels));
  for (const auto& [name, t] : reference.initial) {
    const bool is_head = name == "head.weight" || name == "head.bias";
    const bool is_embedding =
        std::find(embedding.begin(), embedding.end(), name) != embedding.end();
    EXPECT_EQ(!torch::equal(t, reference.final_weights.at(name)), is_head || is_embedding)
        << name;
    EXPECT_EQ(!torch::equal(t, head.final_weights.at(name)), is_head) << name;
  }
}

// The reference's LoRA also trains cls_token, pos_embed and the final norm, never the
// head; {train_extra: none} trains the adapters alone.
TEST(MethodsTest, LoraOnAVitTrainsTheAdaptersAndTheEmbeddingParameters) {
  torch::manual_seed(3);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  for (const char* extra : {"reference", "none"}) {
    RIB_ASSERT_OK_AND_ASSIGN(Classifier vit, CreateModel("fmnist_vit", 3));
    const int64_t side = vit->image_size();
    torch::Tensor images = torch::randn({16, vit->in_channels(), side, side}, gen);
    torch::Tensor labels = torch::randint(3, {16}, gen, torch::kLong);
    const std::vector<std::string> embedding = vit->EmbeddingParameterNames();
    RIB_ASSERT_OK_AND_ASSIGN(
        TrainedModel lora,
        TrainModel(vit, Spec("lora", {{"train_extra", extra}}), images, labels));
    std::set<std::string> trained;
    for (const auto& [name, p] : lora.method->setup().trainable) trained.insert(name);
    for (const std::string& name : embedding) {
      EXPECT_EQ(trained.count(name), std::string(extra) == "reference" ? 1u : 0u)
          << extra << " " << name;
    }
    EXPECT_EQ(trained.count("head.weight"), 0u) << extra;
    int adapters = 0;
    for (const std::string& name : trained) adapters += absl::StrContains(name, "lora_");
    EXPECT_GT(adapters, 0) << extra;
    EXPECT_EQ(trained.size(), adapters + (std::string(extra) == "reference"
                                              ? embedding.size()
                                              : 0u))
        << extra;
  }
}

TEST(MethodsTest, LoraLeavesBaseWeightsAndMergedEqualsUnmerged) {
  RIB_ASSERT_OK_AND_ASSIGN(Trained lora,
                           TrainWith(Spec("lora", {{"rank", "2"},
                                                   {"alpha", "4"},
                                                   {"train_extra", "none"}}),
                                     /*finish=*/false));
  // Only the adapters were trained.
  std::vector<std::string> trained;
  for (const auto& [name, p] : lora.method->setup().trainable) trained.push_back(name);
  EXPECT_THAT(trained, ::testing::ElementsAre("lora_a", "lora_b"));
  for (const auto& [name, t] : lora.initial) EXPECT_FALSE(Changed(lora, name)) << name;
  EXPECT_GT(lora.final_weights.at("lora_b").abs().max().item<double>(), 0.0);

  auto [images, labels] = TinyData(16, 9);
  lora.model->eval();
  torch::Tensor unmerged = lora.model->forward(images).detach();
  ASSERT_THAT(lora.method->Finish(), IsOk());
  torch::Tensor merged = lora.method->EvalForward()(images).detach();
  EXPECT_TRUE(torch::allclose(merged, unmerged, 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(merged, AsClassifier(TinyClassifier())->forward(images)));
  // After merging, the model has exactly its original tensors again.
  EXPECT_EQ(ModelWeights(*lora.model).size(), lora.initial.size());
  EXPECT_FALSE(torch::equal(lora.initial.at("body.weight"), lora.model->body->weight));
}

TEST(MethodsTest, VpLeavesTheBackboneUnchangedAndLearnsABorder) {
  // The tiny model's images are 4 px, so a 30/224 border would be 1 px: pad=56 → 1 px.
  RIB_ASSERT_OK_AND_ASSIGN(Trained vp, TrainWith(Spec("vp", {{"pad", "56"}})));
  for (const auto& [name, t] : vp.initial) EXPECT_FALSE(Changed(vp, name)) << name;
  TensorMap extra = vp.method->ExtraWeights();
  ASSERT_TRUE(extra.count("prompt"));
  torch::Tensor prompt = extra.at("prompt");
  EXPECT_EQ(prompt.sizes(), (std::vector<int64_t>{1, 1, 4, 4}));
  EXPECT_GT(prompt.abs().sum().item<double>(), 0.0);
  // The centre 2×2 is not part of the prompt.
  EXPECT_EQ(prompt.slice(2, 1, 3).slice(3, 1, 3).abs().sum().item<double>(), 0.0);
}

// The reference's prompt starts N(0, 1) on the border, from the job's seed: the same
// for the same seed; {init: zeros} starts at zero.
TEST(MethodsTest, VpStartsFromANormalPromptOfTheSeedOrFromZero) {
  auto initial = [](const std::string& init, uint64_t seed) -> torch::Tensor {
    TinyClassifier model;
    MethodContext context;
    context.model = AsClassifier(model);
    context.mask = LabelMask::Identity(3);
    context.seed = seed;
    auto method = TrainingMethod::Create(Spec("vp", {{"pad", "56"}, {"init", init}}),
                                         context);
    EXPECT_THAT(method.status(), IsOk());
    return method.ok() ? (*method)->ExtraWeights().at("prompt") : torch::Tensor();
  };
  torch::Tensor a = initial("normal", 7), b = initial("normal", 7), c = initial("normal", 8);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  // 12 border pixels of a 4×4 image, all drawn; the centre 2×2 stays zero.
  EXPECT_EQ(a.ne(0).sum().item<int64_t>(), 12);
  EXPECT_EQ(a.slice(2, 1, 3).slice(3, 1, 3).abs().sum().item<double>(), 0.0);
  EXPECT_EQ(initial("zeros", 7).abs().sum().item<double>(), 0.0);
  EXPECT_THAT(TrainingMethod::Create(Spec("vp", {{"init", "uniform"}}), MethodContext()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("must be one of normal, zeros, got 'uniform'")));
}

TEST(MethodsTest, VpRejectsAPadThatCoversTheImage) {
  // pad 111 (the catalog's largest) is a 2 px border on this 4 px image: no centre left.
  EXPECT_THAT(TrainWith(Spec("vp", {{"pad", "111"}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("border")));
  // A pad that covers any image is out of the catalog's range (spec/methods.h).
  EXPECT_THAT(TrainWith(Spec("vp", {{"pad", "200"}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("(0, 111]")));
}

TEST(MethodsTest, LwfWithAlphaZeroEqualsFt) {
  RIB_ASSERT_OK_AND_ASSIGN(Trained ft, TrainWith(Spec("ft")));
  RIB_ASSERT_OK_AND_ASSIGN(Trained lwf, TrainWith(Spec("lwf", {{"alpha", "0"}})));
  ExpectClose(ft.final_weights, lwf.final_weights, 1e-6);
  RIB_ASSERT_OK_AND_ASSIGN(Trained lwf1, TrainWith(Spec("lwf", {{"alpha", "1"}})));
  EXPECT_FALSE(torch::allclose(ft.final_weights.at("head.weight"),
                               lwf1.final_weights.at("head.weight"), 0, 1e-4));
}

TEST(MethodsTest, EwcAndL2spWithLambdaZeroEqualFt) {
  RIB_ASSERT_OK_AND_ASSIGN(Trained ft, TrainWith(Spec("ft")));
  RIB_ASSERT_OK_AND_ASSIGN(Trained ewc, TrainWith(Spec("ewc", {{"lambda", "0"}})));
  RIB_ASSERT_OK_AND_ASSIGN(Trained l2sp, TrainWith(Spec("l2sp", {{"lambda", "0"}})));
  ExpectClose(ft.final_weights, ewc.final_weights, 1e-6);
  ExpectClose(ft.final_weights, l2sp.final_weights, 1e-6);
}

TEST(MethodsTest, PenaltiesPullTowardsThePretrainedWeights) {
  auto distance = [](const Trained& t) {
    double d = 0;
    for (const auto& [name, w] : t.initial) {
      if (w.is_floating_point() && name.find("running") == std::string::npos) {
        d += (t.final_weights.at(name) - w).square().sum().item<double>();
      }
    }
    return d;
  };
  RIB_ASSERT_OK_AND_ASSIGN(Trained ft, TrainWith(Spec("ft")));
  RIB_ASSERT_OK_AND_ASSIGN(Trained l2sp, TrainWith(Spec("l2sp", {{"lambda", "1"}})));
  RIB_ASSERT_OK_AND_ASSIGN(Trained ewc, TrainWith(Spec("ewc", {{"lambda", "5"}})));
  EXPECT_LT(distance(l2sp), distance(ft));
  EXPECT_LT(distance(ewc), distance(ft));
}

// A gradient step on the penalty diverges once lr·λ·F > 2; ewc's proximal step does not:
// with an enormous λ every parameter the Fisher sees stays at θ_pre.
TEST(MethodsTest, EwcIsStableAtAnyLambda) {
  RIB_ASSERT_OK_AND_ASSIGN(Trained ft, TrainWith(Spec("ft")));
  RIB_ASSERT_OK_AND_ASSIGN(Trained ewc, TrainWith(Spec("ewc", {{"lambda", "1e12"}})));
  double ft_moved = 0, ewc_moved = 0;
  for (const auto& [name, w] : ewc.initial) {
    if (!w.is_floating_point() || name.find("running") != std::string::npos) continue;
    const torch::Tensor& after = ewc.final_weights.at(name);
    ASSERT_TRUE(torch::isfinite(after).all().item<bool>()) << name;
    ewc_moved += (after - w).abs().sum().item<double>();
    ft_moved += (ft.final_weights.at(name) - w).abs().sum().item<double>();
  }
  EXPECT_GT(ft_moved, 0.0);
  EXPECT_LT(ewc_moved, 1e-3 * ft_moved);
}

// The head's per-example gradient of the cross-entropy is (softmax(z) − onehot(y)) ⊗ h
// for features h: the Fisher of head.weight computed from that closed form, on the
// features of the model in eval mode, is what EstimateFisher returns for it. Float sums
// in another order: equal to 1e-6 relative.
TEST(MethodsTest, FisherIsTheMeanSquaredPerExampleGradient) {
  torch::manual_seed(11);
  TinyClassifier model;
  model->eval();
  auto [images, labels] = TinyData(13, 4);
  NamedTensors params;
  for (const auto& item : model->named_parameters())
    params.emplace_back(item.key(), item.value());
  std::unique_ptr<BatchStream> stream = MakeTensorStream(images, labels, 5);
  RIB_ASSERT_OK_AND_ASSIGN(
      std::vector<torch::Tensor> fisher,
      EstimateFisher([&](const torch::Tensor& x) { return model->forward(x); }, params,
                     *stream, LabelMask::Identity(3), torch::kCPU, nullptr));
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    torch::Tensor h = model->Features(images).to(torch::kDouble);
    torch::Tensor p =
        torch::softmax(model->Head(model->Features(images)).to(torch::kDouble), 1);
    torch::Tensor residual = p - torch::one_hot(labels, 3).to(torch::kDouble);
    // [n, 3, 8] per-example gradients of head.weight.
    torch::Tensor per_example = residual.unsqueeze(2) * h.unsqueeze(1);
    expected = per_example.square().mean(0);
  }
  size_t head = 0;
  while (params[head].first != "head.weight") ++head;
  EXPECT_TRUE(torch::allclose(fisher[head].to(torch::kDouble), expected, 1e-6, 1e-9))
      << (fisher[head].to(torch::kDouble) - expected).abs().max().item<double>();
  // The squared mean gradient (the old estimate) is much smaller: it is not that.
  EXPECT_GT(expected.sum().item<double>(),
            2 * ((torch::softmax(model->forward(images).detach().to(torch::kDouble), 1) -
                  torch::one_hot(labels, 3).to(torch::kDouble))
                     .unsqueeze(2) *
                 model->Features(images).detach().to(torch::kDouble).unsqueeze(1))
                    .mean(0)
                    .square()
                    .sum()
                    .item<double>());
  // No example anywhere: a clear error.
  std::unique_ptr<BatchStream> empty =
      MakeTensorStream(images.slice(0, 0, 0), labels.slice(0, 0, 0), 5);
  EXPECT_THAT(EstimateFisher([&](const torch::Tensor& x) { return model->forward(x); },
                             params, *empty, LabelMask::Identity(3), torch::kCPU, nullptr)
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no example")));
}

// The strength ewc applies is λ·F, once: one SGD step of ewc equals ft's step followed
// by the proximal step θ ← (θ + η·λF·θ_pre) / (1 + η·λF), with F recomputed here by
// EstimateFisher at θ_pre on the same Fisher sample. (A λ applied twice, as before
// issue 15.2's fix, gives (1 + η·λ²F) and misses by far more than the tolerance.)
// Tolerance 1e-6: the same float operations in a different association order.
TEST(MethodsTest, EwcStepIsTheProximalStepOfLambdaTimesTheFisher) {
  constexpr double kLambda = 30;
  TrainingConfig config;
  config.lr = 0.1;
  config.epochs = 1;
  config.warmup_steps = 0;
  config.max_steps = 1;  // cosine at step 0 of 1: lr = config.lr exactly
  config.seed = 5;
  // Plain variables, not structured bindings: a lambda may not capture those in C++17
  // (clang refuses it; the -Wthread-safety build uses clang).
  const auto data_pair = TinyData(48, 2);
  const auto fisher_pair = TinyData(40, 9);
  const auto& images = data_pair.first;
  const auto& labels = data_pair.second;
  const auto& fisher_images = fisher_pair.first;
  const auto& fisher_labels = fisher_pair.second;
  auto one_step = [&](const MethodSpec& spec) -> absl::StatusOr<TensorMap> {
    torch::manual_seed(11);
    TinyClassifier model;
    TensorTrainData::Options data_options;
    data_options.batch_size = 8;
    data_options.seed = 5;
    TensorTrainData data(images, labels, data_options);
    std::unique_ptr<BatchStream> fisher = MakeTensorStream(fisher_images, fisher_labels, 16);
    MethodContext context;
    context.model = AsClassifier(model);
    context.mask = LabelMask::Identity(3);
    context.fisher_data = fisher.get();
    context.fisher_mask = LabelMask::Identity(3);
    RIB_ASSIGN_OR_RETURN(std::unique_ptr<TrainingMethod> method,
                         TrainingMethod::Create(spec, context));
    TrainOptions options;
    options.config = config;
    RIB_RETURN_IF_ERROR(Train(method->setup(), data, options, nullptr).status());
    return CloneWeights(ModelWeights(*model));
  };
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap ft, one_step(Spec("ft")));
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap ewc,
                           one_step(Spec("ewc", {{"lambda", absl::StrCat(kLambda)}})));

  // F at θ_pre, as the method computes it: the same model, eval mode, every parameter.
  torch::manual_seed(11);
  TinyClassifier pre;
  const TensorMap initial = CloneWeights(ModelWeights(*pre));
  pre->eval();
  NamedTensors params;
  for (const auto& item : pre->named_parameters()) params.emplace_back(item.key(), item.value());
  std::unique_ptr<BatchStream> fisher = MakeTensorStream(fisher_images, fisher_labels, 16);
  RIB_ASSERT_OK_AND_ASSIGN(
      std::vector<torch::Tensor> f,
      EstimateFisher([&pre](const torch::Tensor& x) { return pre->forward(x); }, params,
                     *fisher, LabelMask::Identity(3), torch::kCPU, nullptr));
  ASSERT_EQ(f.size(), params.size());
  double largest_pull = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string& name = params[i].first;
    const torch::Tensor k = f[i].to(torch::kDouble) * (kLambda * config.lr);
    const torch::Tensor expected =
        (ft.at(name).to(torch::kDouble) + k * initial.at(name).to(torch::kDouble)) / (k + 1);
    const torch::Tensor got = ewc.at(name).to(torch::kDouble);
    EXPECT_TRUE(torch::allclose(got, expected, 0, 1e-6))
        << name << " max diff " << (got - expected).abs().max().item<double>();
    largest_pull = std::max(largest_pull, (ft.at(name).to(torch::kDouble) - expected)
                                              .abs().max().item<double>());
  }
  // The step must matter at this λ for the comparison to pin it.
  EXPECT_GT(largest_pull, 1e-3);
}

TEST(MethodsTest, EwcWithoutFisherDataIsRefused) {
  torch::manual_seed(11);
  TinyClassifier model;
  MethodContext context;
  context.model = AsClassifier(model);
  context.mask = LabelMask::Identity(3);
  EXPECT_THAT(TrainingMethod::Create(Spec("ewc"), context).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no Fisher data")));
}

TEST(MethodsTest, WiseFtEndpointsArePreAndFt) {
  RIB_ASSERT_OK_AND_ASSIGN(Trained ft, TrainWith(Spec("ft")));
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap at0,
                           InterpolateWeights(ft.initial, ft.final_weights, 0.0));
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap at1,
                           InterpolateWeights(ft.initial, ft.final_weights, 1.0));
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap half,
                           InterpolateWeights(ft.initial, ft.final_weights, 0.5));
  for (const auto& [name, t] : ft.initial) {
    EXPECT_TRUE(torch::equal(at0.at(name), t)) << name;
    EXPECT_TRUE(torch::equal(at1.at(name), ft.final_weights.at(name))) << name;
  }
  EXPECT_TRUE(torch::allclose(half.at("body.weight"),
                              0.5 * (ft.initial.at("body.weight") +
                                     ft.final_weights.at("body.weight")),
                              0, 1e-7));
  // Integer buffers come from the nearer endpoint (the fine-tuned side at 0.5).
  EXPECT_TRUE(torch::equal(half.at("norm.num_batches_tracked"),
                           ft.final_weights.at("norm.num_batches_tracked")));
}

TEST(MethodsTest, SoupIsTheParameterMean) {
  TensorMap a = {{"w", torch::tensor({1.0f, 2.0f})}, {"n", torch::tensor(3, torch::kLong)}};
  TensorMap b = {{"w", torch::tensor({3.0f, 6.0f})}, {"n", torch::tensor(5, torch::kLong)}};
  TensorMap c = {{"w", torch::tensor({5.0f, 1.0f})}, {"n", torch::tensor(7, torch::kLong)}};
  RIB_ASSERT_OK_AND_ASSIGN(TensorMap soup, AverageWeights({a, b, c}));
  EXPECT_TRUE(torch::allclose(soup.at("w"), torch::tensor({3.0f, 3.0f})));
  EXPECT_EQ(soup.at("n").item<int64_t>(), 3);
  TensorMap bad = {{"w", torch::tensor({1.0f})}, {"n", torch::tensor(1, torch::kLong)}};
  EXPECT_THAT(AverageWeights({a, bad}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(MethodsTest, ParamsAreValidated) {
  EXPECT_THAT(spec::ValidateMethod(Spec("lora", {{"rnk", "4"}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'rnk'")));
  EXPECT_THAT(spec::ValidateMethod(Spec("lwf", {{"alpha", "lots"}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("alpha='lots'")));
  EXPECT_THAT(
      spec::ValidateMethod(Spec("sgd")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown method kind")));
  EXPECT_THAT(spec::ValidateMethod(Spec("wise-ft", {{"alpha", "0.3"}})), IsOk());
}

}  // namespace
}  // namespace rib::engine
