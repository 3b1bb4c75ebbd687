// BatchLoader: order, sharding equivalence, partial batches, errors, bounded prefetch.
#include "worker/data/loader.h"

#include <chrono>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/worker/data/fake_source.h"

namespace rib::data {
namespace {

using ::rib::testing::StatusIs;
using ::testing::ElementsAre;
using testing::FakeSource;
using ::testing::HasSubstr;

std::vector<int64_t> Range(int64_t n) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i % 4;
  return v;
}

// All batches of one epoch: the indices of each batch.
std::vector<std::vector<int64_t>> Epoch(const FakeSource& src, LoaderOptions opts) {
  auto loader = BatchLoader::Create(&src, src.examples(), opts);
  EXPECT_TRUE(loader.ok()) << loader.status();
  std::vector<std::vector<int64_t>> out;
  Batch b;
  while (true) {
    auto more = (*loader)->Next(&b);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    // Images and labels line up with the indices.
    for (size_t i = 0; i < b.indices.size(); ++i) {
      EXPECT_EQ(b.images[i][0][0][0].item<float>(), static_cast<float>(b.indices[i]));
      EXPECT_EQ(b.labels[i].item<int64_t>(), b.indices[i] % 4);
    }
    out.push_back(b.indices);
  }
  EXPECT_EQ(static_cast<int64_t>(out.size()), (*loader)->num_batches());
  return out;
}

TEST(LoaderTest, InOrderWithoutShuffle) {
  FakeSource src(Range(10));
  LoaderOptions o;
  o.batch_size = 4;
  o.threads = 3;
  auto batches = Epoch(src, o);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_THAT(batches[0], ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(batches[2], ElementsAre(8, 9));
  o.drop_last = true;
  EXPECT_EQ(Epoch(src, o).size(), 2u);
}

TEST(LoaderTest, ShuffleIsDeterministicPerSeedAndEpoch) {
  FakeSource src(Range(50));
  LoaderOptions o;
  o.batch_size = 8;
  o.shuffle = true;
  o.seed = 1;
  o.epoch = 0;
  auto a = Epoch(src, o), b = Epoch(src, o);
  EXPECT_EQ(a, b);
  o.epoch = 1;
  EXPECT_NE(Epoch(src, o), a);
  std::vector<int64_t> all;
  for (const auto& batch : a) all.insert(all.end(), batch.begin(), batch.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, [] {
    std::vector<int64_t> v(50);
    for (int i = 0; i < 50; ++i) v[i] = i;
    return v;
  }());
}

TEST(LoaderTest, RanksSplitEachGlobalBatch) {
  FakeSource src(Range(23));
  LoaderOptions one;
  one.batch_size = 6;
  one.shuffle = true;
  one.seed = 5;
  const auto single = Epoch(src, one);
  ASSERT_EQ(single.size(), 4u);  // 6 + 6 + 6 + 5
  for (int world : {2, 3}) {
    std::vector<std::vector<std::vector<int64_t>>> per_rank;
    for (int r = 0; r < world; ++r) {
      LoaderOptions o = one;
      o.batch_size = 6 / world;
      o.rank = r;
      o.world_size = world;
      per_rank.push_back(Epoch(src, o));
      ASSERT_EQ(per_rank.back().size(), single.size()) << "rank " << r;
    }
    for (size_t g = 0; g < single.size(); ++g) {
      std::vector<int64_t> joined;
      for (int r = 0; r < world; ++r)
        joined.insert(joined.end(), per_rank[r][g].begin(), per_rank[r][g].end());
      EXPECT_EQ(joined, single[g]) << "world " << world << " batch " << g;
    }
  }
}

TEST(LoaderTest, EmptyShareStillYieldsABatch) {
  FakeSource src(Range(5));
  LoaderOptions o;
  o.batch_size = 2;
  o.world_size = 8;
  o.rank = 0;  // 5 examples over 8 ranks: rank 0 gets none (5 * 1 / 8 = 0)
  auto loader = BatchLoader::Create(&src, src.examples(), o);
  ASSERT_TRUE(loader.ok());
  EXPECT_EQ((*loader)->num_batches(), 1);
  Batch b;
  RIB_ASSERT_OK_AND_ASSIGN(bool more, (*loader)->Next(&b));
  EXPECT_TRUE(more);
  EXPECT_EQ(b.images.sizes(), (std::vector<int64_t>{0, 3, 2, 2}));
  EXPECT_EQ(b.labels.size(0), 0);
}

TEST(LoaderTest, DecodeErrorNamesTheFileUnlessSkipped) {
  FakeSource src(Range(12), {}, {5});
  LoaderOptions o;
  o.batch_size = 4;
  auto loader = BatchLoader::Create(&src, src.examples(), o);
  ASSERT_TRUE(loader.ok());
  Batch b;
  RIB_ASSERT_OK_AND_ASSIGN(bool more, (*loader)->Next(&b));
  EXPECT_TRUE(more);
  EXPECT_THAT((*loader)->Next(&b).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("/fake/5.jpg")));
  o.skip_corrupt = true;
  auto skipping = BatchLoader::Create(&src, src.examples(), o);
  ASSERT_TRUE(skipping.ok());
  ASSERT_TRUE(*(*skipping)->Next(&b));
  ASSERT_TRUE(*(*skipping)->Next(&b));
  EXPECT_EQ(b.skipped, 1);
  EXPECT_THAT(b.indices, ElementsAre(4, 6, 7));
  EXPECT_EQ((*skipping)->total_skipped(), 1);
}

TEST(LoaderTest, PrefetchIsBounded) {
  FakeSource src(Range(100));
  LoaderOptions o;
  o.batch_size = 4;
  o.threads = 4;
  o.prefetch_batches = 2;
  auto loader = BatchLoader::Create(&src, src.examples(), o);
  ASSERT_TRUE(loader.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // At most 2 batches decoded ahead (+1 load that probes the image shape).
  EXPECT_LE(src.loads(), 2 * 4 + 1);
  Batch b;
  ASSERT_TRUE(*(*loader)->Next(&b));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_LE(src.loads(), 3 * 4 + 1);
  EXPECT_GE(src.loads(), 3 * 4);
}

TEST(LoaderTest, RejectsBadOptions) {
  FakeSource src(Range(4));
  LoaderOptions o;
  o.batch_size = 0;
  EXPECT_THAT(BatchLoader::Create(&src, src.examples(), o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  o.batch_size = 2;
  o.rank = 2;
  o.world_size = 2;
  EXPECT_THAT(BatchLoader::Create(&src, src.examples(), o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace rib::data
