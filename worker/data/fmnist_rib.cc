#include "worker/data/fmnist_rib.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/core.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/atomic_file.h"
#include "common/hash.h"
#include "common/status_macros.h"
#include "spec/suites.h"
#include "worker/data/fmnist_set.h"
#include "worker/data/fmnist_shifts.h"

namespace rib::data {
namespace fs = std::filesystem;
using internal::FmnistSet;
using internal::Rng;

namespace {

constexpr int kSrcSize = 28;
constexpr int kPad = (kFmnistImageSize - kSrcSize) / 2;
constexpr int kNumClasses = 10;
// fmnist-a keeps this many classes (the reference classifier's hardest), as ImageNet-A
// keeps 200 of the 1000 classes.
constexpr int kAdversarialClasses = 6;

struct Idx {
  int64_t n = 0;
  std::vector<uint8_t> data;
};

absl::StatusOr<std::string> ReadGzip(const std::string& path) {
  if (!fs::exists(path))
    return absl::NotFoundError(absl::StrCat("Fashion-MNIST file not found: ", path));
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, n);
  const bool failed = n < 0;
  gzclose(f);
  if (failed) return absl::DataLossError(absl::StrCat("corrupt gzip file: ", path));
  return out;
}

uint32_t BigEndian32(const std::string& s, size_t pos) {
  return (uint32_t{static_cast<uint8_t>(s[pos])} << 24) |
         (uint32_t{static_cast<uint8_t>(s[pos + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(s[pos + 2])} << 8) |
         uint32_t{static_cast<uint8_t>(s[pos + 3])};
}

// IDX files: magic 0x00000803 (images n×28×28) or 0x00000801 (labels n).
absl::StatusOr<Idx> ReadIdx(const std::string& path, bool images) {
  RIB_ASSIGN_OR_RETURN(std::string raw, ReadGzip(path));
  const size_t header = images ? 16 : 8;
  if (raw.size() < header || BigEndian32(raw, 0) != (images ? 0x803u : 0x801u)) {
    return absl::DataLossError(
        absl::StrCat("not an IDX ", images ? "image" : "label", " file: ", path));
  }
  Idx idx;
  idx.n = BigEndian32(raw, 4);
  const size_t item = images ? kSrcSize * kSrcSize : 1;
  if (images && (BigEndian32(raw, 8) != kSrcSize || BigEndian32(raw, 12) != kSrcSize)) {
    return absl::DataLossError(absl::StrCat("unexpected image size in ", path));
  }
  if (raw.size() != header + idx.n * item) {
    return absl::DataLossError(absl::StrCat("truncated IDX file: ", path));
  }
  idx.data.assign(raw.begin() + header, raw.end());
  return idx;
}

// A source image as a padded 32x32 float grey image in [0, 1].
cv::Mat PaddedGrey(const Idx& images, int64_t i) {
  cv::Mat g = cv::Mat::zeros(kFmnistImageSize, kFmnistImageSize, CV_32F);
  const uint8_t* p = images.data.data() + i * kSrcSize * kSrcSize;
  for (int y = 0; y < kSrcSize; ++y)
    for (int x = 0; x < kSrcSize; ++x)
      g.at<float>(y + kPad, x + kPad) = p[y * kSrcSize + x] / 255.0f;
  return g;
}

void AppendPixels(FmnistSet& set, const cv::Mat& img) {
  cv::Mat u8;
  img.convertTo(u8, CV_8U, 255.0);  // rounds and saturates
  CV_Assert(u8.isContinuous() && u8.channels() == set.c);
  set.pixels.insert(set.pixels.end(), u8.data, u8.data + u8.total() * u8.channels());
}

void Add(FmnistSet& set, const cv::Mat& img, int64_t label, int32_t subset,
         int64_t source) {
  AppendPixels(set, img);
  set.label.push_back(label);
  set.subset.push_back(subset);
  set.source.push_back(source);
}

FmnistSet NewSet(int channels) {
  FmnistSet set;
  set.c = channels;
  set.h = set.w = kFmnistImageSize;
  set.labels.num_model_classes = kNumClasses;
  set.labels.label_names = FmnistClassNames();
  return set;
}

std::string OptionsText(const FmnistRibOptions& o) {
  return absl::StrCat("fmnist-rib\nversion ", kFmnistRibVersion, "\nseed ", o.seed,
                      "\nval_size ", o.val_size, "\ndownstream_size ", o.downstream_size,
                      "\nc_sources ", o.c_sources, "\ntrain_limit ", o.train_limit, "\n");
}

uint64_t StreamId(const std::string& key, int64_t i) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a of the key, mixed with the index
  for (char c : key) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
  return h ^ (static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL);
}

// Squared distances to each class mean: the fixed reference classifier of fmnist-a.
int NearestMean(const cv::Mat& g, const std::vector<cv::Mat>& means,
                const std::vector<int>& classes) {
  int best = classes[0];
  double best_d = 1e300;
  for (int c : classes) {
    const double d = cv::norm(g, means[c], cv::NORM_L2SQR);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

absl::Status Generate(const FmnistRibOptions& o, const std::string& dir,
                      std::string* datasets_text) {
  const std::string src = o.source_dir;
  RIB_ASSIGN_OR_RETURN(Idx train_x, ReadIdx(src + "/train-images-idx3-ubyte.gz", true));
  RIB_ASSIGN_OR_RETURN(Idx train_y, ReadIdx(src + "/train-labels-idx1-ubyte.gz", false));
  RIB_ASSIGN_OR_RETURN(Idx test_x, ReadIdx(src + "/t10k-images-idx3-ubyte.gz", true));
  RIB_ASSIGN_OR_RETURN(Idx test_y, ReadIdx(src + "/t10k-labels-idx1-ubyte.gz", false));
  if (train_x.n != train_y.n || test_x.n != test_y.n) {
    return absl::DataLossError("Fashion-MNIST image and label counts differ");
  }
  const int64_t n_train =
      o.train_limit > 0 ? std::min(o.train_limit, train_x.n) : train_x.n;
  const int64_t fixed = o.val_size + 6 * o.downstream_size + o.c_sources;
  if (o.val_size <= 0 || o.downstream_size <= 0 || o.c_sources < 5 || fixed >= test_x.n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FMNIST-RIB sizes do not fit in the ", test_x.n, " test images (val ", o.val_size,
        " + 6 x ", o.downstream_size, " + c ", o.c_sources, ")"));
  }
  std::map<std::string, FmnistSet> sets;

  // Pre-training set and the reference classifier (nearest class mean) fit on it.
  FmnistSet train = NewSet(1);
  std::vector<cv::Mat> means(kNumClasses);
  std::vector<int64_t> counts(kNumClasses, 0);
  for (auto& m : means) m = cv::Mat::zeros(kFmnistImageSize, kFmnistImageSize, CV_32F);
  for (int64_t i = 0; i < n_train; ++i) {
    cv::Mat g = PaddedGrey(train_x, i);
    const int y = train_y.data[i];
    if (y >= kNumClasses) return absl::DataLossError("Fashion-MNIST label out of range");
    means[y] += g;
    ++counts[y];
    Add(train, g, y, -1, i);
  }
  for (int c = 0; c < kNumClasses; ++c) means[c] /= std::max<int64_t>(1, counts[c]);
  std::vector<int> all_classes(kNumClasses);
  for (int c = 0; c < kNumClasses; ++c) all_classes[c] = c;
  std::vector<double> errors(kNumClasses, 0);
  for (int64_t i = 0; i < n_train; ++i) {
    const int y = train_y.data[i];
    if (NearestMean(PaddedGrey(train_x, i), means, all_classes) != y)
      errors[y] += 1.0 / counts[y];
  }
  sets["fmnist-train"] = std::move(train);

  // The test images, shuffled once, then cut into disjoint shards.
  std::vector<int64_t> perm(test_x.n);
  for (int64_t i = 0; i < test_x.n; ++i) perm[i] = i;
  Rng shuffle_rng(static_cast<uint64_t>(o.seed), 1);
  shuffle_rng.Shuffle(perm);
  int64_t next = 0;
  auto take = [&](int64_t n) {
    std::vector<int64_t> shard(perm.begin() + next, perm.begin() + next + n);
    next += n;
    return shard;
  };

  FmnistSet val = NewSet(1);
  for (int64_t i : take(o.val_size))
    Add(val, PaddedGrey(test_x, i), test_y.data[i], -1, i);
  sets["fmnist-val"] = std::move(val);

  using ShiftFn = cv::Mat (*)(const cv::Mat&, Rng&);
  const std::vector<std::pair<std::string, ShiftFn>> shifts = {
      {"fmnist-v2", internal::ShiftV2},
      {"fmnist-r", internal::ShiftRendition},
      {"fmnist-sketch", internal::ShiftSketch},
      {"fmnist-objectnet", internal::ShiftObjectNet},
      {"fmnist-cartoon", internal::ShiftCartoon},
      {"fmnist-drawing", internal::ShiftDrawing}};
  for (const auto& [key, fn] : shifts) {
    FmnistSet set = NewSet(3);
    std::vector<int64_t> model_to_label(kNumClasses);
    for (int c = 0; c < kNumClasses; ++c) model_to_label[c] = c;
    if (key == "fmnist-objectnet") {
      // As ObjectNet: folders that map to one or more model classes (many-to-one), and
      // a class with no folder (sandal) left out; logits restricted to mapped classes.
      set.labels.label_names = {"top", "trouser", "outerwear", "dress", "shoe", "bag"};
      set.labels.accepted = {{0, 6}, {1}, {2, 4}, {3}, {7, 9}, {8}};
      set.labels.class_subset = {0, 1, 2, 3, 4, 6, 7, 8, 9};
      model_to_label = {0, 1, 2, 3, 2, -1, 0, 4, 5, 4};
    }
    for (int64_t i : take(o.downstream_size)) {
      const int64_t label = model_to_label[test_y.data[i]];
      if (label < 0) continue;
      Rng rng(static_cast<uint64_t>(o.seed), StreamId(key, i));
      Add(set, fn(PaddedGrey(test_x, i), rng), label, -1, i);
    }
    sets[key] = std::move(set);
  }

  // fmnist-c: each source image gets 3 of the 15 corruptions, at all 5 severities.
  {
    const auto& names = internal::CorruptionNames();
    FmnistSet set = NewSet(3);
    for (const auto& n : names)
      for (int s = 1; s <= 5; ++s) set.subset_names.push_back(absl::StrCat(n, "/", s));
    struct Item {
      int32_t subset;
      int64_t source;
      cv::Mat img;
      int64_t label;
    };
    std::vector<Item> items;
    const auto sources = take(o.c_sources);
    for (size_t j = 0; j < sources.size(); ++j) {
      const int64_t i = sources[j];
      const cv::Mat clean = internal::GreyToRgb(PaddedGrey(test_x, i));
      for (int k = 0; k < 3; ++k) {
        const int c = static_cast<int>((3 * j + k) % names.size());
        for (int s = 1; s <= 5; ++s) {
          Rng rng(static_cast<uint64_t>(o.seed),
                  StreamId(names[c], i));  // same for all severities
          items.push_back({static_cast<int32_t>(c * 5 + s - 1), i,
                           internal::Corrupt(clean, c, s, rng), test_y.data[i]});
        }
      }
    }
    std::stable_sort(items.begin(), items.end(),
                     [](const Item& a, const Item& b) { return a.subset < b.subset; });
    for (const auto& it : items) Add(set, it.img, it.label, it.subset, it.source);
    sets["fmnist-c"] = std::move(set);
  }

  // fmnist-a: the rest of the test images, kept where the reference classifier fails,
  // among its hardest classes.
  {
    std::vector<int> order(kNumClasses);
    for (int c = 0; c < kNumClasses; ++c) order[c] = c;
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return errors[a] > errors[b]; });
    std::vector<int> hard(order.begin(), order.begin() + kAdversarialClasses);
    std::sort(hard.begin(), hard.end());
    FmnistSet set = NewSet(1);
    set.labels.label_names.clear();
    std::vector<int64_t> model_to_label(kNumClasses, -1);
    for (size_t k = 0; k < hard.size(); ++k) {
      set.labels.class_subset.push_back(hard[k]);
      set.labels.label_names.push_back(FmnistClassNames()[hard[k]]);
      model_to_label[hard[k]] = static_cast<int64_t>(k);
    }
    for (int64_t i : take(test_x.n - next)) {
      if (set.size() >= o.downstream_size) break;
      const int y = test_y.data[i];
      if (model_to_label[y] < 0) continue;
      cv::Mat g = PaddedGrey(test_x, i);
      if (NearestMean(g, means, hard) == y) continue;
      Add(set, g, model_to_label[y], -1, i);
    }
    sets["fmnist-a"] = std::move(set);
  }

  for (const auto& key : FmnistKeys()) {
    const std::string file = key + ".bin";
    RIB_RETURN_IF_ERROR(internal::WriteFmnistSet(dir + "/" + file, sets.at(key)));
    RIB_ASSIGN_OR_RETURN(std::string sha, Sha256File(dir + "/" + file));
    absl::StrAppend(datasets_text, "dataset ", key, " ", file, " ", sets.at(key).size(),
                    " ", sha, "\n");
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& FmnistClassNames() {
  static const auto* names = new std::vector<std::string>{
      "t-shirt", "trouser", "pullover", "dress", "coat",
      "sandal",  "shirt",   "sneaker",  "bag",   "ankle-boot"};
  return *names;
}

const std::vector<std::string>& FmnistKeys() {
  static const auto* keys =
      new std::vector<std::string>(spec::SuiteDatasetKeys("fmnist-rib"));
  return *keys;
}

const FmnistDatasetEntry* FmnistManifest::Find(const std::string& key) const {
  for (const auto& d : datasets)
    if (d.key == key) return &d;
  return nullptr;
}

std::string FmnistRibDir(const std::string& data_root, const FmnistRibOptions& options) {
  FmnistRibOptions defaults;
  defaults.source_dir = options.source_dir;
  const std::string text = OptionsText(options);
  const std::string dir = spec::FmnistRibDefaultDir(data_root);
  if (text == OptionsText(defaults)) return dir;
  return absl::StrCat(dir, "-", Sha256Hex(text).substr(0, 10));
}

absl::StatusOr<FmnistManifest> ReadFmnistManifest(const std::string& dir) {
  const std::string path = dir + "/manifest.txt";
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no FMNIST-RIB manifest: ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  FmnistManifest m;
  m.dir = dir;
  m.hash = Sha256Hex(text);
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f[0] == "version" && f.size() == 2) m.version = std::atoi(f[1].c_str());
    if (f[0] != "dataset") continue;
    if (f.size() != 5)
      return absl::DataLossError(absl::StrCat("bad manifest line in ", path));
    m.datasets.push_back({f[1], dir + "/" + f[2], std::atoll(f[3].c_str()), f[4]});
  }
  for (const auto& key : FmnistKeys()) {
    if (m.Find(key) == nullptr) {
      return absl::DataLossError(absl::StrCat("manifest ", path, " lacks ", key));
    }
  }
  return m;
}

absl::StatusOr<FmnistManifest> BuildFmnistRib(const std::string& data_root,
                                              const FmnistRibOptions& options) {
  if (data_root.empty()) return absl::InvalidArgumentError("data_root is empty");
  const std::string dir = FmnistRibDir(data_root, options);
  const std::string options_text = OptionsText(options);
  {
    std::ifstream in(dir + "/manifest.txt");
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      if (ss.str().compare(0, options_text.size(), options_text) == 0) {
        return ReadFmnistManifest(dir);
      }
      return absl::FailedPreconditionError(absl::StrCat(
          dir, " holds an FMNIST-RIB build with other options; remove it to rebuild"));
    }
  }
  std::error_code ec;
  fs::create_directories(fs::path(dir).parent_path(), ec);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  // Build in a private folder, then rename it into place, so that a concurrent reader
  // never sees a half-written suite and concurrent builders do not collide.
  // Unique per builder (host, pid, random: common/atomic_file.h), as builders in
  // containers sharing the data volume can have equal pids.
  const std::string tmp = UniqueTempPath(dir);
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot create ", tmp, ": ", ec.message()));
  std::string datasets_text;
  absl::Status st = Generate(options, tmp, &datasets_text);
  if (st.ok()) {
    std::string sources;
    for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                          "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}) {
      auto sha = Sha256File(options.source_dir + "/" + f);
      if (!sha.ok()) {
        st = sha.status();
        break;
      }
      absl::StrAppend(&sources, "source ", f, " ", *sha, "\n");
    }
    if (st.ok()) {
      std::ofstream out(tmp + "/manifest.txt", std::ios::trunc);
      out << options_text << sources << datasets_text;
      out.close();
      if (!out)
        st = absl::InternalError(absl::StrCat("cannot write ", tmp, "/manifest.txt"));
    }
  }
  if (!st.ok()) {
    fs::remove_all(tmp, ec);
    return st;
  }
  fs::rename(tmp, dir, ec);
  if (ec) {  // another process finished first: use its build
    fs::remove_all(tmp, ec);
  }
  return ReadFmnistManifest(dir);
}

}  // namespace rib::data
