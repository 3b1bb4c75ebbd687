// Masked logits, ObjectNet's any-accepted rule and per-subset counting on hand-made
// logits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "common/robustness_bootstrap.h"
#include "tests/testing/status_matchers.h"
#include "worker/dist/fake_process_group.h"
#include "worker/engine/evaluate.h"
#include "worker/engine/label_mask.h"

namespace rib::engine {
namespace {

using ::rib::testing::StatusIs;

// 5 model classes; logits rows hand-made so the argmax is known.
torch::Tensor Logits() {
  return torch::tensor({{0.0, 5.0, 1.0, 2.0, 3.0},    // argmax 1; over {2,3,4}: 4
                        {9.0, 0.0, 4.0, 1.0, 0.0},    // argmax 0; over {2,3,4}: 2
                        {0.0, 0.0, 0.0, 7.0, 1.0}},   // argmax 3
                       torch::kFloat);
}

TEST(LabelMaskTest, IdentityTopOne) {
  data::LabelSpace space;
  space.label_names = {"a", "b", "c", "d", "e"};
  RIB_ASSERT_OK_AND_ASSIGN(LabelMask mask, LabelMask::Create(space, 5));
  torch::Tensor correct = mask.Correct(Logits(), torch::tensor({1, 2, 3}, torch::kLong));
  EXPECT_TRUE(torch::equal(correct, torch::tensor({true, false, true})));
  // Without a subset the loss is exactly torch's cross-entropy.
  torch::Tensor labels = torch::tensor({1, 2, 3}, torch::kLong);
  EXPECT_TRUE(torch::equal(mask.Loss(Logits(), labels),
                           torch::nn::functional::cross_entropy(Logits(), labels)));
}

TEST(LabelMaskTest, ClassSubsetRestrictsArgmax) {
  data::LabelSpace space;  // IN-A/R style: dataset labels 0..2 are model classes 2,3,4
  space.class_subset = {2, 3, 4};
  space.label_names = {"c", "d", "e"};
  RIB_ASSERT_OK_AND_ASSIGN(LabelMask mask, LabelMask::Create(space, 5));
  EXPECT_EQ(mask.restricted_classes(), 3);
  // Row 0: restricted argmax is class 4 (label 2) although class 1 is larger overall.
  torch::Tensor correct = mask.Correct(Logits(), torch::tensor({2, 0, 1}, torch::kLong));
  EXPECT_TRUE(torch::equal(correct, torch::tensor({true, true, true})));
  correct = mask.Correct(Logits(), torch::tensor({0, 1, 2}, torch::kLong));
  EXPECT_TRUE(torch::equal(correct, torch::tensor({false, false, false})));
  // Loss: cross-entropy over the 3 restricted logits.
  torch::Tensor expected = torch::nn::functional::cross_entropy(
      Logits().index({torch::indexing::Slice(), torch::indexing::Slice(2, 5)}),
      torch::tensor({2, 0, 1}, torch::kLong));
  EXPECT_TRUE(torch::allclose(mask.Loss(Logits(), torch::tensor({2, 0, 1}, torch::kLong)),
                              expected, 0, 1e-6));
}

TEST(LabelMaskTest, ObjectNetAnyAcceptedClass) {
  data::LabelSpace space;  // 2 folders; folder 0 ↔ classes {0, 3}, folder 1 ↔ {1}
  space.class_subset = {0, 1, 3};
  space.accepted = {{0, 3}, {1}};
  space.label_names = {"folder0", "folder1"};
  RIB_ASSERT_OK_AND_ASSIGN(LabelMask mask, LabelMask::Create(space, 5));
  EXPECT_TRUE(mask.multi_accept());
  // Row 0 over {0,1,3}: argmax 1 → folder 1 right, folder 0 wrong.
  // Row 1: argmax 0 → folder 0 right. Row 2: argmax 3 → folder 0 right.
  torch::Tensor correct = mask.Correct(Logits(), torch::tensor({0, 0, 0}, torch::kLong));
  EXPECT_TRUE(torch::equal(correct, torch::tensor({false, true, true})));
  correct = mask.Correct(Logits(), torch::tensor({1, 1, 1}, torch::kLong));
  EXPECT_TRUE(torch::equal(correct, torch::tensor({true, false, false})));
  // Loss for row 2 with label 0: -log(softmax(z)_0 + softmax(z)_3) over z = (0, 0, 7).
  torch::Tensor loss = mask.Loss(Logits().slice(0, 2, 3), torch::tensor({0}, torch::kLong));
  const double z = std::exp(0.0) + std::exp(0.0) + std::exp(7.0);
  EXPECT_NEAR(loss.item<double>(), -std::log((std::exp(0.0) + std::exp(7.0)) / z), 1e-6);
}

TEST(LabelMaskTest, RejectsInconsistentSpaces) {
  data::LabelSpace out_of_range;
  out_of_range.class_subset = {0, 7};
  out_of_range.label_names = {"a", "b"};
  EXPECT_THAT(LabelMask::Create(out_of_range, 5),
              StatusIs(absl::StatusCode::kInvalidArgument));
  data::LabelSpace unmapped;
  unmapped.class_subset = {0, 1};
  unmapped.accepted = {{0}, {4}};
  unmapped.label_names = {"a", "b"};
  EXPECT_THAT(LabelMask::Create(unmapped, 5),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("label 1")));
}

TEST(EvaluateTest, CountsPerSubsetAndSkipped) {
  LabelMask mask = LabelMask::Identity(5);
  // 3 examples in two IN-C style subsets; the identity "model" returns the inputs.
  torch::Tensor images = Logits();
  torch::Tensor labels = torch::tensor({1, 2, 3}, torch::kLong);
  std::vector<std::string> subsets = {"fog/1", "fog/2", "fog/1"};
  auto stream = MakeTensorStream(images, labels, 2, subsets);
  EvaluateOptions options;
  options.subsets = {"fog/1", "fog/2"};
  options.expected_totals = {2, 3};  // fog/2 lost two examples to decode failures
  RIB_ASSERT_OK_AND_ASSIGN(
      std::vector<SubsetCount> counts,
      Evaluate([](const torch::Tensor& x) { return x; }, *stream, mask, options));
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[0].subset, "fog/1");
  EXPECT_EQ(counts[0].correct, 2);
  EXPECT_EQ(counts[0].total, 2);
  EXPECT_EQ(counts[0].skipped, 0);
  EXPECT_EQ(counts[1].subset, "fog/2");
  EXPECT_EQ(counts[1].correct, 0);
  EXPECT_EQ(counts[1].total, 1);
  EXPECT_EQ(counts[1].skipped, 2);
}

TEST(EvaluateTest, UnknownSubsetIsAnError) {
  auto stream = MakeTensorStream(Logits(), torch::tensor({1, 2, 3}, torch::kLong), 8,
                                 {"a", "b", "zzz"});
  EvaluateOptions options;
  options.subsets = {"a", "b"};
  EXPECT_THAT(Evaluate([](const torch::Tensor& x) { return x; }, *stream,
                       LabelMask::Identity(5), options),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("zzz")));
}

// A sink that counts liveness beats.
class AliveSink : public EventSink {
 public:
  void OnAlive() override { ++beats; }
  int beats = 0;
};

// Evaluation shows progress per batch, not only when a dataset's result is ready: the
// worker's hang detection must not take a long evaluation for a hung one.
TEST(EvaluateTest, BeatsOncePerBatchWhileItRuns) {
  constexpr int kExamples = 7;
  torch::Tensor images = torch::zeros({kExamples, 5});
  torch::Tensor labels = torch::zeros({kExamples}, torch::kLong);
  auto stream = MakeTensorStream(images, labels, /*batch_size=*/1,
                                 std::vector<std::string>(kExamples, ""));
  AliveSink sink;
  EvaluateOptions options;
  options.sink = &sink;
  std::vector<int> beats_at_forward;
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<SubsetCount> counts,
                           Evaluate(
                               [&](const torch::Tensor& x) {
                                 beats_at_forward.push_back(sink.beats);
                                 return x;
                               },
                               *stream, LabelMask::Identity(5), options));
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].total, kExamples);
  // One beat before each batch's forward pass: 1, 2, ..., 7 while evaluating.
  std::vector<int> expected;
  for (int i = 1; i <= kExamples; ++i) expected.push_back(i);
  EXPECT_EQ(beats_at_forward, expected);
  EXPECT_EQ(sink.beats, kExamples);
}

// Batches given up front, with example indices (what the loader's batches carry).
class VectorStream : public BatchStream {
 public:
  explicit VectorStream(std::vector<Batch> batches) : batches_(std::move(batches)) {}
  absl::StatusOr<bool> Next(Batch* batch) override {
    if (next_ >= batches_.size()) return false;
    *batch = batches_[next_++];
    return true;
  }

 private:
  std::vector<Batch> batches_;
  size_t next_ = 0;
};

Batch MakeBatch(torch::Tensor logits, std::vector<int64_t> labels,
                std::vector<std::string> subsets, std::vector<int64_t> indices) {
  Batch b;
  b.images = std::move(logits);
  b.labels = torch::tensor(labels, torch::kLong);
  b.subsets = std::move(subsets);
  b.indices = std::move(indices);
  return b;
}

TEST(EvaluateTest, RecordsWhichImagesWereRightPerSubset) {
  // Examples 10, 11, 12 of a dataset; 10 and 12 are fog/1's positions 0 and 1, 11 is
  // fog/2's position 0. Rows 0 and 2 are right (argmax 1 and 3), row 1 is not.
  std::vector<Batch> batches = {
      MakeBatch(Logits(), {1, 2, 3}, {"fog/1", "fog/2", "fog/1"}, {10, 11, 12})};
  VectorStream stream(std::move(batches));
  EvaluateOptions options;
  options.subsets = {"fog/1", "fog/2"};
  options.expected_totals = {2, 1};
  options.bit_position.assign(13, -1);
  options.bit_position[10] = 0;
  options.bit_position[12] = 1;
  options.bit_position[11] = 0;
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<SubsetCount> counts,
                           Evaluate([](const torch::Tensor& x) { return x; }, stream,
                                    LabelMask::Identity(5), options));
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[0].correct_bits, std::string("\x03", 1));
  EXPECT_EQ(counts[1].correct_bits, std::string("\x00", 1));
  // Without positions nothing is recorded.
  VectorStream again({MakeBatch(Logits(), {1, 2, 3}, {"", "", ""}, {0, 1, 2})});
  RIB_ASSERT_OK_AND_ASSIGN(counts,
                           Evaluate([](const torch::Tensor& x) { return x; }, again,
                                    LabelMask::Identity(5), EvaluateOptions{}));
  EXPECT_EQ(counts[0].correct_bits, "");
}

// Held-out evaluation: the bits number all 10 images of the dataset (bit_sizes), of
// which the list holds 4 (expected_totals) and one failed to decode. The evaluated bits
// mark the 3 scored images (positions 2, 5, 9), the right ones among them only.
TEST(EvaluateTest, BitsSpanTheWholeDatasetAndMarkTheScoredImages) {
  Batch batch = MakeBatch(Logits(), {1, 2, 3}, {"", "", ""}, {2, 5, 9});
  batch.skipped = 1;
  VectorStream stream({batch});
  EvaluateOptions options;
  options.expected_totals = {4};
  options.bit_sizes = {10};
  for (int64_t k = 0; k < 10; ++k) options.bit_position.push_back(k);
  RIB_ASSERT_OK_AND_ASSIGN(std::vector<SubsetCount> counts,
                           Evaluate([](const torch::Tensor& x) { return x; }, stream,
                                    LabelMask::Identity(5), options));
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].total, 3);
  EXPECT_EQ(counts[0].skipped, 1);
  EXPECT_EQ(counts[0].correct, 2);
  // Rows 0 and 2 (positions 2 and 9) right: bits 2 and 9; scored: 2, 5 and 9.
  EXPECT_EQ(counts[0].correct_bits, std::string("\x04\x02", 2));
  EXPECT_EQ(counts[0].evaluated_bits, std::string("\x24\x02", 2));
  // Every image of the bits scored: evaluated_bits is "" (all).
  VectorStream all({MakeBatch(Logits(), {1, 2, 3}, {"", "", ""}, {0, 1, 2})});
  options.expected_totals = {3};
  options.bit_sizes = {3};
  RIB_ASSERT_OK_AND_ASSIGN(counts, Evaluate([](const torch::Tensor& x) { return x; },
                                            all, LabelMask::Identity(5), options));
  EXPECT_EQ(counts[0].correct_bits, std::string("\x05", 1));
  EXPECT_EQ(counts[0].evaluated_bits, "");
  // An image scored twice is an error, not a double count.
  VectorStream twice({MakeBatch(Logits(), {1, 2, 3}, {"", "", ""}, {0, 1, 0})});
  EXPECT_THAT(Evaluate([](const torch::Tensor& x) { return x; }, twice,
                       LabelMask::Identity(5), options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("example 0 of subset '' was scored twice")));
}

TEST(EvaluateTest, BadBitPositionsAreNamed) {
  EvaluateOptions options;
  options.expected_totals = {3};
  options.bit_position = {0, 1, 7};  // example 2 lies outside the 3 images
  VectorStream stream({MakeBatch(Logits(), {1, 2, 3}, {"", "", ""}, {0, 1, 2})});
  EXPECT_THAT(Evaluate([](const torch::Tensor& x) { return x; }, stream,
                       LabelMask::Identity(5), options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("example 2 has no position")));
  options.bit_position = {0, 1, 2};
  VectorStream no_indices({MakeBatch(Logits(), {1, 2, 3}, {"", "", ""}, {})});
  EXPECT_THAT(Evaluate([](const torch::Tensor& x) { return x; }, no_indices,
                       LabelMask::Identity(5), options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("example indices")));
}

// Two ranks score disjoint halves of 130 images (words of 64 bits span both); each
// rank's result holds every image's bit, popcount == correct.
TEST(EvaluateTest, BitsAreGatheredAcrossRanks) {
  constexpr int64_t kImages = 130;
  auto right = [](int64_t k) { return k % 3 != 1; };
  auto groups = dist::CreateInProcessGroups(2);
  std::vector<absl::StatusOr<std::vector<SubsetCount>>> results(2);
  auto run = [&](int r) {
    std::vector<Batch> batches;
    const int64_t begin = r == 0 ? 0 : 70, end = r == 0 ? 70 : kImages;
    for (int64_t b = begin; b < end; b += 8) {
      const int64_t n = std::min<int64_t>(8, end - b);
      torch::Tensor logits = torch::zeros({n, 2});
      std::vector<int64_t> labels, indices;
      for (int64_t k = 0; k < n; ++k) {
        logits[k][1] = 1.0;  // predicts class 1
        labels.push_back(right(b + k) ? 1 : 0);
        indices.push_back(b + k);
      }
      batches.push_back(
          MakeBatch(logits, labels, std::vector<std::string>(n, ""), indices));
    }
    VectorStream stream(std::move(batches));
    EvaluateOptions options;
    options.group = groups[r].get();
    options.expected_totals = {kImages};
    for (int64_t k = 0; k < kImages; ++k) options.bit_position.push_back(k);
    results[r] = Evaluate([](const torch::Tensor& x) { return x; }, stream,
                          LabelMask::Identity(2), options);
  };
  std::thread t0(run, 0), t1(run, 1);
  t0.join();
  t1.join();
  int64_t expected_correct = 0;
  for (int64_t k = 0; k < kImages; ++k) expected_correct += right(k);
  for (int r = 0; r < 2; ++r) {
    ASSERT_TRUE(results[r].ok()) << results[r].status();
    const SubsetCount& c = (*results[r])[0];
    EXPECT_EQ(c.correct, expected_correct);
    ASSERT_EQ(c.correct_bits.size(), 17u);
    for (int64_t k = 0; k < kImages; ++k) {
      const bool bit = (static_cast<unsigned char>(c.correct_bits[k / 8]) >> (k % 8)) & 1;
      EXPECT_EQ(bit, right(k)) << "image " << k << " on rank " << r;
    }
    RIB_ASSERT_OK_AND_ASSIGN(int64_t popcount, CountBits(c.correct_bits, "", kImages));
    EXPECT_EQ(popcount, c.correct);
  }
}

}  // namespace
}  // namespace rib::engine
