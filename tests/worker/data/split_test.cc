// SplitDataset: stratified, disjoint, deterministic, grouped; reference mode.
#include <map>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/worker/data/fake_source.h"
#include "worker/data/source.h"

namespace rib::data {
namespace {

using ::rib::testing::StatusIs;
using testing::FakeSource;

std::vector<int64_t> Indices(const std::vector<Example>& v) {
  std::vector<int64_t> out;
  for (const auto& e : v) out.push_back(e.index);
  return out;
}

// 3 classes with 50, 30 and 11 examples, interleaved.
std::vector<int64_t> Labels() {
  std::vector<int64_t> labels;
  for (int i = 0; i < 50; ++i) labels.push_back(0);
  for (int i = 0; i < 30; ++i) labels.push_back(1);
  for (int i = 0; i < 11; ++i) labels.push_back(2);
  std::vector<int64_t> mixed;
  for (size_t i = 0; i < labels.size(); ++i)
    mixed.push_back(labels[(i * 37) % labels.size()]);
  return mixed;
}

TEST(SplitTest, StratifiedDisjointAndComplete) {
  FakeSource src(Labels());
  DatasetOptions opts;
  opts.seed = 3;
  RIB_ASSERT_OK_AND_ASSIGN(Split split, SplitDataset(src, opts));
  std::map<int64_t, int> test_per_class, all_per_class;
  for (const auto& e : split.test) ++test_per_class[e.label];
  for (const auto& e : src.examples()) ++all_per_class[e.label];
  EXPECT_EQ(test_per_class[0], 10);  // round(0.2 * 50)
  EXPECT_EQ(test_per_class[1], 6);
  EXPECT_EQ(test_per_class[2], 2);  // round(2.2)
  const auto train_idx = Indices(split.train), test_idx = Indices(split.test);
  std::set<int64_t> train(train_idx.begin(), train_idx.end());
  std::set<int64_t> test;
  for (int64_t i : test_idx) {
    EXPECT_EQ(train.count(i), 0u) << i;
    test.insert(i);
  }
  EXPECT_EQ(train.size() + test.size(), src.examples().size());
  // Each side keeps the dataset's order.
  EXPECT_TRUE(std::is_sorted(test_idx.begin(), test_idx.end()));
}

TEST(SplitTest, DeterministicForASeedAndDifferentAcrossSeeds) {
  FakeSource src(Labels());
  DatasetOptions opts;
  opts.seed = 7;
  RIB_ASSERT_OK_AND_ASSIGN(Split a, SplitDataset(src, opts));
  RIB_ASSERT_OK_AND_ASSIGN(Split b, SplitDataset(src, opts));
  EXPECT_EQ(Indices(a.test), Indices(b.test));
  opts.seed = 8;
  RIB_ASSERT_OK_AND_ASSIGN(Split c, SplitDataset(src, opts));
  EXPECT_NE(Indices(a.test), Indices(c.test));
  EXPECT_EQ(a.test.size(), c.test.size());
}

TEST(SplitTest, GroupsStayOnOneSide) {
  // 40 groups of 5 examples (like one photo under 5 corruptions), 2 classes.
  std::vector<int64_t> labels;
  std::vector<std::string> groups;
  for (int g = 0; g < 40; ++g)
    for (int k = 0; k < 5; ++k) {
      labels.push_back(g % 2);
      groups.push_back("photo" + std::to_string(g));
    }
  FakeSource src(labels, groups);
  DatasetOptions opts;
  opts.test_fraction = 0.25;
  RIB_ASSERT_OK_AND_ASSIGN(Split split, SplitDataset(src, opts));
  std::set<std::string> train_groups, test_groups;
  for (const auto& e : split.train) train_groups.insert(e.group);
  for (const auto& e : split.test) test_groups.insert(e.group);
  for (const auto& g : test_groups) EXPECT_EQ(train_groups.count(g), 0u) << g;
  EXPECT_EQ(test_groups.size(), 10u);  // round(0.25 * 20) per class
  EXPECT_EQ(split.test.size(), 50u);
}

TEST(SplitTest, ReferenceUsesEverythingForBoth) {
  FakeSource src(Labels());
  DatasetOptions opts;
  opts.split = "reference";
  RIB_ASSERT_OK_AND_ASSIGN(Split split, SplitDataset(src, opts));
  EXPECT_EQ(split.train.size(), 91u);
  EXPECT_EQ(Indices(split.train), Indices(split.test));
}

TEST(SplitTest, RejectsBadOptions) {
  FakeSource src(Labels());
  DatasetOptions opts;
  opts.split = "random";
  EXPECT_THAT(SplitDataset(src, opts).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  opts.split = "heldout";
  opts.test_fraction = 1.5;
  EXPECT_THAT(SplitDataset(src, opts).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace rib::data
