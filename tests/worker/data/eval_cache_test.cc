// EvalCache: a cold and a warm cache give the uncached loader's tensors bit for bit
// (same machine, same kernels: the inputs must be identical, not close), per subset and
// per rank; a corrupt or truncated entry is rebuilt with a log line naming it; least
// recently used entries are evicted, never one in use; what cannot be cached exactly is
// decoded as before; two processes filling one entry at once both read correct data.
#include "worker/data/eval_cache.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include <opencv2/core.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "tests/worker/data/fake_source.h"
#include "tests/worker/data/fixtures.h"
#include "worker/data/eval_cache_stats.h"
#include "worker/data/image.h"
#include "worker/data/loader.h"

namespace rib::data {
namespace {

namespace fs = std::filesystem;
using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::testing::HasSubstr;

// Seeded noise photos of assorted sizes, decoded (here: generated) and preprocessed the
// way every real source does (PreprocessImage: PIL-style bicubic resize, centre crop,
// normalisation). Counts its decodes; `fail` examples report DATA_LOSS.
class NoiseSource : public DatasetSource {
 public:
  NoiseSource(int n, int subsets, rib::Preprocessing pre, std::set<int64_t> fail = {},
              int decode_sleep_ms = 0, uint32_t seed = 1000)
      : pre_(std::move(pre)), fail_(std::move(fail)), sleep_ms_(decode_sleep_ms),
        seed_(seed) {
    for (int s = 0; s < subsets; ++s) subsets_.push_back(absl::StrCat("noise/", s + 1));
    for (int i = 0; i < n; ++i) {
      Example e;
      e.label = i % 3;
      e.index = i;
      if (subsets > 0) e.subset = subsets_[i % subsets];
      examples_.push_back(e);
    }
    labels_.num_model_classes = 3;
    labels_.label_names = {"a", "b", "c"};
  }
  const std::string& key() const override { return key_; }
  const LabelSpace& label_space() const override { return labels_; }
  const std::vector<Example>& examples() const override { return examples_; }
  std::vector<std::string> subsets() const override { return subsets_; }
  absl::StatusOr<torch::Tensor> LoadImage(const Example& e) const override {
    decodes_.fetch_add(1);
    if (sleep_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
    if (fail_.count(e.index)) return absl::DataLossError(absl::StrCat("bad #", e.index));
    std::mt19937 rng(static_cast<uint32_t>(seed_ + e.index));
    const int w = 20 + static_cast<int>(rng() % 21), h = 20 + static_cast<int>(rng() % 21);
    cv::Mat img(h, w, CV_8UC3);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < 3 * w; ++x) img.ptr<uint8_t>(y)[x] = static_cast<uint8_t>(rng());
    return PreprocessImage(img, pre_);
  }
  int64_t decodes() const { return decodes_.load(); }

 private:
  const std::string key_ = "noise";
  const rib::Preprocessing pre_;
  const std::set<int64_t> fail_;
  const int sleep_ms_;
  const uint32_t seed_;
  std::vector<std::string> subsets_;
  std::vector<Example> examples_;
  LabelSpace labels_;
  mutable std::atomic<int64_t> decodes_{0};
};

rib::Preprocessing Pre() {
  rib::Preprocessing p;
  p.image_size = 16;
  p.crop_pct = 0.875;  // resize the shorter side to 18, crop 16
  p.interpolation = "bicubic";
  p.mean = {0.485, 0.456, 0.406};
  p.std = {0.229, 0.224, 0.225};
  return p;
}

DatasetOptions Options(const std::string& data_root) {
  DatasetOptions o;
  o.data_root = data_root;
  o.preprocessing = Pre();
  return o;
}

struct Epoch {
  std::vector<torch::Tensor> images, labels;
  std::vector<std::vector<int64_t>> indices;
  std::vector<std::vector<std::string>> subsets;
  std::vector<int64_t> skipped;
};

Epoch Read(const DatasetSource& source, const std::vector<Example>& examples,
           int rank = 0, int world = 1) {
  LoaderOptions o;
  o.batch_size = 4;
  o.rank = rank;
  o.world_size = world;
  o.threads = 2;
  o.skip_corrupt = true;
  auto loader = BatchLoader::Create(&source, examples, o);
  EXPECT_THAT(loader.status(), IsOk());
  Epoch out;
  Batch b;
  while (loader.ok()) {
    auto more = (*loader)->Next(&b);
    EXPECT_THAT(more.status(), IsOk());
    if (!more.ok() || !*more) break;
    out.images.push_back(b.images);
    out.labels.push_back(b.labels);
    out.indices.push_back(b.indices);
    out.subsets.push_back(b.subsets);
    out.skipped.push_back(b.skipped);
  }
  return out;
}

// Bit equality: the same machine decodes both, so the floats must be identical.
void ExpectIdentical(const Epoch& a, const Epoch& b) {
  ASSERT_EQ(a.images.size(), b.images.size());
  ASSERT_FALSE(a.images.empty());
  for (size_t i = 0; i < a.images.size(); ++i) {
    ASSERT_EQ(a.images[i].sizes(), b.images[i].sizes()) << "batch " << i;
    EXPECT_EQ(std::memcmp(a.images[i].data_ptr<float>(), b.images[i].data_ptr<float>(),
                          a.images[i].numel() * sizeof(float)),
              0)
        << "batch " << i << " differs in its pixels";
    EXPECT_TRUE(torch::equal(a.labels[i], b.labels[i])) << "batch " << i;
  }
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_EQ(a.subsets, b.subsets);
  EXPECT_EQ(a.skipped, b.skipped);
}

std::vector<fs::path> Entries(const std::string& root) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(root))
    if (e.path().extension() == kEvalCacheEntrySuffix) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::unique_ptr<EvalCache> Cache(const std::string& root, int64_t max_bytes = 1 << 30) {
  EvalCacheOptions o;
  o.root = root;
  o.max_bytes = max_bytes;
  o.threads = 2;
  auto cache = EvalCache::Create(o);
  EXPECT_THAT(cache.status(), IsOk());
  return cache.ok() ? std::move(*cache) : nullptr;
}

class EvalCacheTest : public ::testing::Test {
 protected:
  ScratchDir data_, cache_dir_;
};

TEST_F(EvalCacheTest, ColdAndWarmGiveTheUncachedTensorsBitForBit) {
  // Two subsets (two entries), one image that does not decode.
  NoiseSource source(23, 2, Pre(), /*fail=*/{5});
  const std::vector<Example> test(source.examples().begin() + 1, source.examples().end());
  const Epoch uncached = Read(source, test);
  const Epoch uncached_rank1 = Read(source, test, 1, 2);

  auto cold_cache = Cache(cache_dir_.path());
  RIB_ASSERT_OK_AND_ASSIGN(auto cold,
                           cold_cache->Open(source, test, Options(data_.path())));
  ASSERT_NE(cold, nullptr);
  EXPECT_EQ(cold_cache->misses(), 2);
  EXPECT_EQ(cold_cache->hits(), 0);
  EXPECT_EQ(Entries(cache_dir_.path()).size(), 2u);
  ExpectIdentical(uncached, Read(*cold, test));

  const int64_t decodes = source.decodes();
  auto warm_cache = Cache(cache_dir_.path());
  RIB_ASSERT_OK_AND_ASSIGN(auto warm,
                           warm_cache->Open(source, test, Options(data_.path())));
  ASSERT_NE(warm, nullptr);
  EXPECT_EQ(warm_cache->hits(), 2);
  EXPECT_EQ(warm_cache->misses(), 0);
  ExpectIdentical(uncached, Read(*warm, test));
  ExpectIdentical(uncached_rank1, Read(*warm, test, 1, 2));
  // A warm cache decodes one image per entry (the spot check on open), no more.
  EXPECT_EQ(source.decodes(), decodes + 2);
  // The failed image is still skipped (and counted) as the uncached loader does.
  int64_t skipped = 0;
  for (int64_t s : Read(*warm, test).skipped) skipped += s;
  EXPECT_EQ(skipped, 1);

  const EvalCacheStats stats = ReadEvalCacheStats(cache_dir_.path());
  EXPECT_EQ(stats.hits, 2);
  EXPECT_EQ(stats.misses, 2);
  EXPECT_EQ(stats.entries, 2);
  int64_t bytes = 0;
  for (const auto& p : Entries(cache_dir_.path())) bytes += fs::file_size(p);
  EXPECT_EQ(stats.bytes, bytes);
  EXPECT_GT(bytes, 22 * 3 * 16 * 16);
}

TEST_F(EvalCacheTest, AnotherSelectionOrPreprocessingIsAnotherEntry) {
  NoiseSource source(10, 0, Pre());
  auto cache = Cache(cache_dir_.path());
  const std::vector<Example> all = source.examples();
  const std::vector<Example> some(all.begin(), all.begin() + 6);
  ASSERT_THAT(cache->Open(source, all, Options(data_.path())).status(), IsOk());
  ASSERT_THAT(cache->Open(source, some, Options(data_.path())).status(), IsOk());
  DatasetOptions bilinear = Options(data_.path());
  bilinear.preprocessing.interpolation = "bilinear";
  NoiseSource bilinear_source(10, 0, bilinear.preprocessing);
  RIB_ASSERT_OK_AND_ASSIGN(auto b, cache->Open(bilinear_source, all, bilinear));
  EXPECT_EQ(cache->misses(), 3);
  EXPECT_EQ(Entries(cache_dir_.path()).size(), 3u);
  ExpectIdentical(Read(bilinear_source, all), Read(*b, all));
}

// A file-backed layout: the key holds each file's size and modification time, so an
// image replaced on disk makes a new entry with the new pixels.
TEST_F(EvalCacheTest, ChangedFileOnDiskIsANewEntry) {
  const std::string root = "imagenet-v2/imagenetv2-matched-frequency-format-val/";
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 3; ++i)
      testing::WriteImage(data_.Join(absl::StrCat(root, c, "/", i, ".jpeg")), 30 + i, 25,
                          cv::Vec3b(40 * i, 80, 20 * c));
  DatasetOptions options = Options(data_.path());
  RIB_ASSERT_OK_AND_ASSIGN(auto source, OpenDataset("imagenet-v2", options));
  auto cache = Cache(cache_dir_.path());
  RIB_ASSERT_OK_AND_ASSIGN(auto first, cache->Open(*source, source->examples(), options));
  ASSERT_NE(first, nullptr);
  ExpectIdentical(Read(*source, source->examples()), Read(*first, source->examples()));

  const std::string changed = data_.Join(root + "1/2.jpeg");
  testing::WriteImage(changed, 44, 33, cv::Vec3b(250, 0, 0));
  struct timespec times[2] = {{0, UTIME_OMIT}, {123456789, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, changed.c_str(), times, 0), 0);
  RIB_ASSERT_OK_AND_ASSIGN(auto second, cache->Open(*source, source->examples(), options));
  EXPECT_EQ(cache->misses(), 2);
  EXPECT_EQ(cache->hits(), 0);
  ExpectIdentical(Read(*source, source->examples()), Read(*second, source->examples()));
}

TEST_F(EvalCacheTest, CorruptOrTruncatedEntryIsRebuiltWithALogLine) {
  NoiseSource source(12, 0, Pre());
  const Epoch uncached = Read(source, source.examples());
  {
    auto cache = Cache(cache_dir_.path());
    ASSERT_THAT(cache->Open(source, source.examples(), Options(data_.path())).status(),
                IsOk());
  }
  const std::vector<fs::path> entries = Entries(cache_dir_.path());
  ASSERT_EQ(entries.size(), 1u);
  const std::string entry = entries[0].string();
  const auto size = fs::file_size(entry);
  {  // one flipped bit in the last image
    std::fstream f(entry, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(size - 7));
    char c = 0;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(static_cast<std::streamoff>(size - 7));
    f.write(&c, 1);
  }
  for (const char* damage : {"flipped", "truncated"}) {
    if (std::string(damage) == "truncated") fs::resize_file(entry, size / 2);
    const int64_t decodes = source.decodes();
    auto cache = Cache(cache_dir_.path());
    ::testing::internal::CaptureStderr();
    RIB_ASSERT_OK_AND_ASSIGN(auto cached,
                             cache->Open(source, source.examples(), Options(data_.path())));
    const std::string log = ::testing::internal::GetCapturedStderr();
    ASSERT_NE(cached, nullptr);
    EXPECT_THAT(log, HasSubstr(entry)) << damage;
    EXPECT_THAT(log, HasSubstr("corrupt")) << damage;
    EXPECT_EQ(cache->misses(), 1) << damage;
    EXPECT_GT(source.decodes(), decodes) << damage << ": rebuilt by decoding";
    EXPECT_EQ(fs::file_size(entry), size) << damage;
    ExpectIdentical(uncached, Read(*cached, source.examples()));
  }
}

// Same key, other pixels (what a rib build with another decoder would see): the spot
// check on open finds it, and the entry is built again.
TEST_F(EvalCacheTest, StaleEntryIsRebuilt) {
  NoiseSource old_decoder(6, 0, Pre());
  ASSERT_THAT(Cache(cache_dir_.path())
                  ->Open(old_decoder, old_decoder.examples(), Options(data_.path()))
                  .status(),
              IsOk());
  NoiseSource new_decoder(6, 0, Pre(), {}, 0, /*seed=*/77);
  auto cache = Cache(cache_dir_.path());
  ::testing::internal::CaptureStderr();
  RIB_ASSERT_OK_AND_ASSIGN(
      auto cached, cache->Open(new_decoder, new_decoder.examples(), Options(data_.path())));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("stale"));
  EXPECT_EQ(cache->misses(), 1);
  EXPECT_EQ(Entries(cache_dir_.path()).size(), 1u);
  ExpectIdentical(Read(new_decoder, new_decoder.examples()),
                  Read(*cached, new_decoder.examples()));
}

TEST_F(EvalCacheTest, LeastRecentlyUsedIsEvictedButNeverOneInUse) {
  // Three selections of one source, each its own entry of the same size.
  NoiseSource source(30, 0, Pre());
  const std::vector<Example>& all = source.examples();
  const std::vector<Example> a(all.begin(), all.begin() + 10),
      b(all.begin() + 10, all.begin() + 20), c(all.begin() + 20, all.end());
  int64_t entry_bytes = 0;
  {
    auto probe = Cache(cache_dir_.path());
    ASSERT_THAT(probe->Open(source, a, Options(data_.path())).status(), IsOk());
    entry_bytes = static_cast<int64_t>(fs::file_size(Entries(cache_dir_.path())[0]));
  }
  fs::remove_all(cache_dir_.path());
  // Room for two entries.
  auto cache = Cache(cache_dir_.path(), 2 * entry_bytes + entry_bytes / 2);
  auto keys = [&] {
    std::set<std::string> out;
    for (const auto& p : Entries(cache_dir_.path())) out.insert(p.stem().string());
    return out;
  };
  ASSERT_THAT(cache->Open(source, a, Options(data_.path())).status(), IsOk());
  const std::set<std::string> key_a = keys();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_THAT(cache->Open(source, b, Options(data_.path())).status(), IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Using a again makes b the least recently used.
  ASSERT_THAT(cache->Open(source, a, Options(data_.path())).status(), IsOk());
  EXPECT_EQ(cache->hits(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::set<std::string> before_c = keys();
  ASSERT_THAT(cache->Open(source, c, Options(data_.path())).status(), IsOk());
  std::set<std::string> after = keys();
  EXPECT_EQ(after.size(), 2u);
  for (const auto& k : key_a) EXPECT_TRUE(after.count(k)) << "a (used last) was evicted";
  std::set<std::string> key_b;
  for (const auto& k : before_c)
    if (!key_a.count(k)) key_b.insert(k);
  ASSERT_EQ(key_b.size(), 1u);
  EXPECT_FALSE(after.count(*key_b.begin())) << "b (least recent) survived";
  EXPECT_LE(ReadEvalCacheStats(cache_dir_.path()).bytes, 2 * entry_bytes + entry_bytes / 2);

  // Room for one entry only: those open (mapped) stay, even over the bound.
  auto small = Cache(cache_dir_.path(), entry_bytes + entry_bytes / 2);
  RIB_ASSERT_OK_AND_ASSIGN(auto held_a, small->Open(source, a, Options(data_.path())));
  RIB_ASSERT_OK_AND_ASSIGN(auto held_b, small->Open(source, b, Options(data_.path())));
  // c went; a and b, both mapped, stayed.
  std::set<std::string> held = key_a;
  held.insert(key_b.begin(), key_b.end());
  EXPECT_EQ(keys(), held) << "an entry in use was evicted";
  ExpectIdentical(Read(source, a), Read(*held_a, a));
  ExpectIdentical(Read(source, b), Read(*held_b, b));
}

TEST_F(EvalCacheTest, WhatCannotBeCachedExactlyIsDecodedAsBefore) {
  // Larger than the whole cache: not built.
  NoiseSource source(8, 0, Pre());
  auto tiny = Cache(cache_dir_.path(), 1000);
  RIB_ASSERT_OK_AND_ASSIGN(auto none, tiny->Open(source, source.examples(),
                                                 Options(data_.path())));
  EXPECT_EQ(none, nullptr);
  EXPECT_EQ(tiny->misses(), 1);
  // Tensors that are not 8-bit pixels normalised (FakeSource holds example indices).
  testing::FakeSource fake({0, 1, 2, 3});
  DatasetOptions options = Options(data_.path());
  options.preprocessing.image_size = 2;
  options.preprocessing.crop_pct = 1.0;
  auto cache = Cache(cache_dir_.path());
  ::testing::internal::CaptureStderr();
  RIB_ASSERT_OK_AND_ASSIGN(auto fake_cached, cache->Open(fake, fake.examples(), options));
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr("not cached"));
  EXPECT_EQ(fake_cached, nullptr);
  EXPECT_TRUE(Entries(cache_dir_.path()).empty());
}

TEST(EvalCacheCreateTest, BadOptionsAreNamed) {
  EvalCacheOptions o;
  EXPECT_THAT(EvalCache::Create(o).status(),
              rib::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("no root folder")));
  ScratchDir dir;
  o.root = dir.path();
  o.max_bytes = 0;
  EXPECT_THAT(EvalCache::Create(o).status(),
              rib::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("must be positive")));
  int64_t bytes = 0;
  EXPECT_FALSE(EvalCacheBytesFromGib(-1, &bytes));
  EXPECT_TRUE(EvalCacheBytesFromGib(0.5, &bytes));
  EXPECT_EQ(bytes, int64_t{1} << 29);
}

// The child half of ConcurrentProcessesFillOneEntry, run in its own process (the test
// binary again, filtered to this test): skipped unless that test started it.
TEST(EvalCacheChild, FillAndCompare) {
  const char* root = std::getenv("RIB_EVAL_CACHE_CHILD_ROOT");
  if (root == nullptr) GTEST_SKIP() << "run by ConcurrentProcessesFillOneEntry";
  // Slow decodes, so the two processes overlap while one builds.
  NoiseSource source(40, 0, Pre(), {}, /*decode_sleep_ms=*/10);
  auto cache = Cache(root);
  RIB_ASSERT_OK_AND_ASSIGN(auto cached,
                           cache->Open(source, source.examples(), Options(root)));
  ASSERT_NE(cached, nullptr);
  ExpectIdentical(Read(source, source.examples()), Read(*cached, source.examples()));
}

TEST_F(EvalCacheTest, ConcurrentProcessesFillOneEntry) {
  std::vector<pid_t> children;
  for (int i = 0; i < 2; ++i) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::setenv("RIB_EVAL_CACHE_CHILD_ROOT", cache_dir_.path().c_str(), 1);
      ::execl("/proc/self/exe", "eval_cache_test", "--gtest_filter=EvalCacheChild.*",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "child " << pid << " status " << status;
  }
  EXPECT_EQ(Entries(cache_dir_.path()).size(), 1u);
  const EvalCacheStats stats = ReadEvalCacheStats(cache_dir_.path());
  // One built it; the other waited for it (a hit) — or, had it started after the
  // build, found it (a hit too).
  EXPECT_EQ(stats.misses, 1);
  EXPECT_EQ(stats.hits, 1);
  // No temporary file left behind.
  for (const auto& e : fs::directory_iterator(cache_dir_.path()))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

}  // namespace
}  // namespace rib::data
