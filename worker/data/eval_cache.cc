#include "worker/data/eval_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>
#include <unordered_map>
#include <utility>

#include <opencv2/core.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/atomic_file.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "spec/suites.h"
#include "worker/data/eval_cache_stats.h"
#include "worker/data/fmnist_rib.h"
#include "worker/data/image.h"
#include "worker/data/loader.h"

namespace rib::data {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'R', 'I', 'B', 'E', 'V', 'C', '0', '1'};
constexpr uint32_t kFormatVersion = 1;
constexpr int64_t kHeaderBytes = 128;
constexpr int64_t kAlign = 64;
constexpr int kChannels = 3;

// The on-disk header (little-endian x86-64 layout; 128 bytes).
struct Header {
  char magic[8];
  uint32_t version;
  uint32_t channels;
  char key[64];  // hex SHA-256, the file's name
  uint64_t count;
  uint32_t height;
  uint32_t width;
  uint32_t crc;  // CRC-32 of bytes [kHeaderBytes, end)
  char reserved[kHeaderBytes - 8 - 4 - 4 - 64 - 8 - 4 - 4 - 4];
};
static_assert(sizeof(Header) == kHeaderBytes, "header layout");

struct Layout {
  int64_t indices, labels, failed, pixels, total;
};

Layout LayoutOf(int64_t count, int64_t image_bytes) {
  Layout l;
  l.indices = kHeaderBytes;
  l.labels = l.indices + 8 * count;
  l.failed = l.labels + 8 * count;
  l.pixels = (l.failed + count + kAlign - 1) / kAlign * kAlign;
  l.total = l.pixels + count * image_bytes;
  return l;
}

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat("evaluation cache: ", what, " ", path, ": ", std::strerror(errno)));
}

// A descriptor closed on destruction.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// The 256 normalised values per channel, from PreprocessImage on constant images of
// the size that is cropped without resizing: what it maps each 8-bit value to.
using Lut = std::array<float, kChannels * 256>;

absl::StatusOr<Lut> NormalisationTable(const rib::Preprocessing& p) {
  const int side = ResizeSize(p);
  Lut lut;
  for (int u = 0; u < 256; ++u) {
    cv::Mat img(side, side, CV_8UC3, cv::Scalar(u, u, u));
    const torch::Tensor out = PreprocessImage(img, p).contiguous();
    for (int c = 0; c < kChannels; ++c) {
      const torch::Tensor plane = out[c];
      const float v = plane.min().item<float>();
      if (v != plane.max().item<float>()) {
        return absl::FailedPreconditionError(
            "preprocessing does not map a constant image to a constant tensor");
      }
      lut[c * 256 + u] = v;
    }
  }
  return lut;
}

// A read-only mapping of an entry, with the shared flock that keeps it from eviction.
struct Mapping {
  Fd fd;
  const uint8_t* data = nullptr;
  int64_t size = 0;
  Header header{};
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (data != nullptr) ::munmap(const_cast<uint8_t*>(data), static_cast<size_t>(size));
  }
};

uint32_t Crc(const uint8_t* data, int64_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    const uInt chunk = static_cast<uInt>(std::min<int64_t>(n, 1 << 30));
    crc = crc32(crc, data, chunk);
    data += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

// What an entry must hold.
struct EntrySpec {
  std::string key;
  std::string path;
  std::vector<Example> examples;  // in row order
  int64_t height = 0, width = 0;
  int64_t image_bytes() const { return kChannels * height * width; }
};

// Opens and verifies `spec`'s file. NOT_FOUND when there is none, DATA_LOSS saying
// what is wrong with one that does not verify, OK with a mapping held under LOCK_SH.
absl::StatusOr<std::unique_ptr<Mapping>> OpenEntry(const EntrySpec& spec) {
  auto m = std::make_unique<Mapping>();
  m->fd = Fd(::open(spec.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (m->fd.get() < 0) {
    if (errno == ENOENT) return absl::NotFoundError(spec.path);
    return Errno("cannot open", spec.path);
  }
  if (::flock(m->fd.get(), LOCK_SH) != 0) return Errno("cannot lock", spec.path);
  struct stat st;
  if (::fstat(m->fd.get(), &st) != 0) return Errno("cannot stat", spec.path);
  const int64_t count = static_cast<int64_t>(spec.examples.size());
  const Layout layout = LayoutOf(count, spec.image_bytes());
  if (st.st_size != layout.total) {
    return absl::DataLossError(absl::StrCat("size ", st.st_size, " bytes, expected ",
                                            layout.total));
  }
  m->size = st.st_size;
  void* p = ::mmap(nullptr, static_cast<size_t>(m->size), PROT_READ, MAP_SHARED,
                   m->fd.get(), 0);
  if (p == MAP_FAILED) return Errno("cannot map", spec.path);
  m->data = static_cast<const uint8_t*>(p);
  std::memcpy(&m->header, m->data, sizeof(Header));
  const Header& h = m->header;
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0) {
    return absl::DataLossError("not an evaluation cache file (bad magic)");
  }
  if (h.version != kFormatVersion || h.channels != kChannels ||
      std::string(h.key, sizeof(h.key)) != spec.key ||
      h.count != static_cast<uint64_t>(count) || h.height != spec.height ||
      h.width != spec.width) {
    return absl::DataLossError("header does not match the entry's key and shape");
  }
  const uint32_t crc = Crc(m->data + kHeaderBytes, m->size - kHeaderBytes);
  if (crc != h.crc) {
    return absl::DataLossError(
        absl::StrFormat("payload checksum %08x, header says %08x", crc, h.crc));
  }
  const int64_t* indices = reinterpret_cast<const int64_t*>(m->data + layout.indices);
  const int64_t* labels = reinterpret_cast<const int64_t*>(m->data + layout.labels);
  for (int64_t i = 0; i < count; ++i) {
    if (indices[i] != spec.examples[i].index || labels[i] != spec.examples[i].label) {
      return absl::DataLossError(absl::StrCat("row ", i, " is not example ",
                                              spec.examples[i].index));
    }
  }
  // Last use, for LRU eviction (atime is unreliable under relatime/noatime).
  ::futimens(m->fd.get(), nullptr);
  return m;
}

// Float pixels of LoadImage → their 8-bit values through `lut`; false when a value is
// not in the table (then nothing of this dataset can be cached exactly).
bool ToBytes(const torch::Tensor& image, const Lut& lut, uint8_t* out) {
  const torch::Tensor x = image.contiguous();
  const float* in = x.data_ptr<float>();
  const int64_t plane = x.numel() / kChannels;
  for (int c = 0; c < kChannels; ++c) {
    const float* table = lut.data() + c * 256;
    const float lo = table[0], step = (table[255] - table[0]) / 255.0f;
    for (int64_t i = 0; i < plane; ++i) {
      const float v = in[c * plane + i];
      long u = std::lrint((v - lo) / step);
      u = std::clamp(u, 0L, 255L);
      // The division may land one off; the table decides.
      if (table[u] != v && u > 0 && table[u - 1] == v) --u;
      if (table[u] != v && u < 255 && table[u + 1] == v) ++u;
      if (table[u] != v) return false;
      out[c * plane + i] = static_cast<uint8_t>(u);
    }
  }
  return true;
}

// Deletes least recently used entries of `root` until they total at most max_bytes,
// skipping those open anywhere (their shared lock makes LOCK_EX|LOCK_NB fail).
void Evict(const std::string& root, int64_t max_bytes) {
  struct Item {
    fs::path path;
    int64_t size;
    int64_t mtime_ns;
  };
  std::vector<Item> items;
  int64_t total = 0;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != kEvalCacheEntrySuffix) continue;
    struct stat st;
    if (::stat(it->path().c_str(), &st) != 0) continue;
    items.push_back({it->path(), static_cast<int64_t>(st.st_size),
                     static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                         st.st_mtim.tv_nsec});
    total += st.st_size;
  }
  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return a.mtime_ns < b.mtime_ns; });
  for (const Item& item : items) {
    if (total <= max_bytes) break;
    Fd fd(::open(item.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // in use
    if (::unlink(item.path.c_str()) == 0) {
      total -= item.size;
      RIB_LOG(INFO) << "evaluation cache: evicted " << item.path.string() << " ("
                    << item.size << " bytes, least recently used)";
    }
  }
}

// The file identity of one example (path, size, mtime), or its index alone for
// examples without a file.
void AppendExample(const Example& e, std::string* text) {
  absl::StrAppend(text, e.index, " ", e.label);
  if (!e.path.empty()) {
    struct stat st;
    if (::stat(e.path.c_str(), &st) == 0) {
      absl::StrAppend(text, " ", e.path, " ", st.st_size, " ", st.st_mtim.tv_sec, ".",
                      st.st_mtim.tv_nsec);
    } else {
      absl::StrAppend(text, " ", e.path, " missing");
    }
  }
  text->push_back('\n');
}

absl::StatusOr<std::string> KeyPrefix(const DatasetSource& source,
                                      const DatasetOptions& options) {
  const rib::Preprocessing& p = options.preprocessing;
  std::string text = absl::StrCat("rib-eval-cache ", kFormatVersion, "\ndataset ",
                                  source.key(), "\nroot ",
                                  fs::absolute(options.data_root).string(), "\n");
  absl::StrAppendFormat(&text, "pre %d %.17g %s", p.image_size, p.crop_pct,
                        p.interpolation);
  for (double m : p.mean) absl::StrAppendFormat(&text, " %.17g", m);
  for (double s : p.std) absl::StrAppendFormat(&text, " %.17g", s);
  absl::StrAppend(&text, "\nobjectnet_mode ", options.objectnet_mode, "\n");
  if (spec::DatasetSuite(source.key()) == "fmnist-rib") {
    // The images live in the suite's build, not in files of their own.
    RIB_ASSIGN_OR_RETURN(FmnistManifest manifest,
                         ReadFmnistManifest(FmnistRibDir(options.data_root, {})));
    absl::StrAppend(&text, "fmnist-rib ", manifest.hash, "\n");
  }
  return text;
}

// Serves the cached examples from their mappings, the rest from `base`.
class CachedSource : public DatasetSource {
 public:
  CachedSource(const DatasetSource& base, Lut lut) : base_(base), lut_(lut) {}

  void Add(std::unique_ptr<Mapping> mapping, const EntrySpec& spec) {
    const Layout layout = LayoutOf(static_cast<int64_t>(spec.examples.size()),
                                   spec.image_bytes());
    const int entry = static_cast<int>(entries_.size());
    for (size_t i = 0; i < spec.examples.size(); ++i) {
      rows_[spec.examples[i].index] = {entry, static_cast<int64_t>(i)};
    }
    entries_.push_back({std::move(mapping), layout, spec.height, spec.width});
  }

  const std::string& key() const override { return base_.key(); }
  const LabelSpace& label_space() const override { return base_.label_space(); }
  const std::vector<Example>& examples() const override { return base_.examples(); }
  std::vector<std::string> subsets() const override { return base_.subsets(); }

  absl::StatusOr<torch::Tensor> LoadImage(const Example& example) const override {
    auto it = rows_.find(example.index);
    if (it == rows_.end()) return base_.LoadImage(example);
    const Entry& entry = entries_[it->second.first];
    const int64_t row = it->second.second;
    if (entry.mapping->data[entry.layout.failed + row] != 0) {
      return absl::DataLossError(absl::StrCat(
          "image did not decode (recorded when the evaluation cache was built): ",
          example.path.empty() ? absl::StrCat(key(), " #", example.index) : example.path));
    }
    const int64_t plane = entry.height * entry.width;
    const uint8_t* in =
        entry.mapping->data + entry.layout.pixels + row * kChannels * plane;
    torch::Tensor out = torch::empty({kChannels, entry.height, entry.width}, torch::kFloat);
    float* o = out.data_ptr<float>();
    for (int c = 0; c < kChannels; ++c) {
      const float* table = lut_.data() + c * 256;
      for (int64_t i = 0; i < plane; ++i) o[c * plane + i] = table[in[c * plane + i]];
    }
    return out;
  }

 private:
  struct Entry {
    std::unique_ptr<Mapping> mapping;
    Layout layout;
    int64_t height, width;
  };
  const DatasetSource& base_;
  const Lut lut_;
  std::vector<Entry> entries_;
  std::unordered_map<int64_t, std::pair<int, int64_t>> rows_;  // index → (entry, row)
};

// Decodes `spec`'s examples through `source` into a new file at spec.path. Returns
// false (nothing written) when they cannot be stored exactly.
absl::StatusOr<bool> BuildEntry(const DatasetSource& source, const EntrySpec& spec,
                                const Lut& lut, int threads,
                                const std::function<void()>& alive) {
  const int64_t count = static_cast<int64_t>(spec.examples.size());
  const Layout layout = LayoutOf(count, spec.image_bytes());
  const std::string tmp = UniqueTempPath(spec.path);
  Fd fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Errno("cannot create", tmp);
  struct Cleanup {
    const std::string& path;
    bool keep = false;
    ~Cleanup() {
      if (!keep) ::unlink(path.c_str());
    }
  } cleanup{tmp};
  if (::ftruncate(fd.get(), layout.total) != 0) return Errno("cannot size", tmp);
  void* p = ::mmap(nullptr, static_cast<size_t>(layout.total), PROT_READ | PROT_WRITE,
                   MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return Errno("cannot map", tmp);
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() { ::munmap(p, n); }
  } unmap{p, static_cast<size_t>(layout.total)};
  uint8_t* data = static_cast<uint8_t*>(p);
  auto* indices = reinterpret_cast<int64_t*>(data + layout.indices);
  auto* labels = reinterpret_cast<int64_t*>(data + layout.labels);
  uint8_t* failed = data + layout.failed;
  std::unordered_map<int64_t, int64_t> row_of;
  for (int64_t i = 0; i < count; ++i) {
    indices[i] = spec.examples[i].index;
    labels[i] = spec.examples[i].label;
    failed[i] = 1;  // until its pixels arrive: what the loader skipped did not decode
    row_of[spec.examples[i].index] = i;
  }
  LoaderOptions loader_options;
  loader_options.batch_size = 64;
  loader_options.threads = threads;
  loader_options.prefetch_batches = 4;
  loader_options.skip_corrupt = true;
  RIB_ASSIGN_OR_RETURN(std::unique_ptr<BatchLoader> loader,
                       BatchLoader::Create(&source, spec.examples, loader_options));
  absl::Time last_alive = absl::Now();
  Batch batch;
  while (true) {
    RIB_ASSIGN_OR_RETURN(bool more, loader->Next(&batch));
    if (!more) break;
    for (size_t j = 0; j < batch.indices.size(); ++j) {
      const torch::Tensor image = batch.images[static_cast<int64_t>(j)];
      if (image.dim() != 3 || image.size(0) != kChannels || image.size(1) != spec.height ||
          image.size(2) != spec.width) {
        RIB_LOG(WARNING) << "evaluation cache: " << source.key() << " gives images of shape "
                         << image.sizes() << ", not [3, " << spec.height << ", "
                         << spec.width << "]: not cached";
        return false;
      }
      const int64_t row = row_of.at(batch.indices[j]);
      if (!ToBytes(image, lut, data + layout.pixels + row * spec.image_bytes())) {
        RIB_LOG(WARNING) << "evaluation cache: " << source.key()
                         << " gives values that are not 8-bit pixels normalised: not cached";
        return false;
      }
      failed[row] = 0;
    }
    if (alive && absl::Now() - last_alive > absl::Seconds(1)) {
      alive();
      last_alive = absl::Now();
    }
  }
  Header header{};
  std::memcpy(header.magic, kMagic, sizeof(kMagic));
  header.version = kFormatVersion;
  header.channels = kChannels;
  std::memcpy(header.key, spec.key.data(), sizeof(header.key));
  header.count = static_cast<uint64_t>(count);
  header.height = static_cast<uint32_t>(spec.height);
  header.width = static_cast<uint32_t>(spec.width);
  header.crc = Crc(data + kHeaderBytes, layout.total - kHeaderBytes);
  std::memcpy(data, &header, sizeof(header));
  if (::msync(data, static_cast<size_t>(layout.total), MS_SYNC) != 0 ||
      ::fsync(fd.get()) != 0) {
    return Errno("cannot flush", tmp);
  }
  RIB_RETURN_IF_ERROR(PublishTempFile(tmp, spec.path));
  cleanup.keep = true;
  return true;
}

// Decodes the entry's first stored image again through `source` and compares the
// pixels: an entry of an older build whose decoder or resampler differs (or of a file
// changed without a new mtime) is stale. DATA_LOSS saying so; one decode per open.
absl::Status SpotCheck(const DatasetSource& source, const EntrySpec& spec,
                       const Mapping& mapping, const Lut& lut) {
  const Layout layout = LayoutOf(static_cast<int64_t>(spec.examples.size()),
                                 spec.image_bytes());
  for (size_t row = 0; row < spec.examples.size(); ++row) {
    if (mapping.data[layout.failed + row] != 0) continue;
    RIB_ASSIGN_OR_RETURN(torch::Tensor image, source.LoadImage(spec.examples[row]));
    std::vector<uint8_t> fresh(static_cast<size_t>(spec.image_bytes()));
    if (image.numel() != spec.image_bytes() || !ToBytes(image, lut, fresh.data()) ||
        std::memcmp(fresh.data(), mapping.data + layout.pixels + row * spec.image_bytes(),
                    fresh.size()) != 0) {
      return absl::DataLossError(absl::StrCat(
          "stale: example ", spec.examples[row].index,
          " decodes to other pixels now (another decoder build, or a changed file)"));
    }
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

// Takes the exclusive build lock of `lock_path`, calling `alive` every second while
// another process holds it.
absl::StatusOr<Fd> LockForBuild(const std::string& lock_path,
                                const std::function<void()>& alive) {
  Fd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Errno("cannot open", lock_path);
  absl::Time last_alive = absl::Now();
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) return Errno("cannot lock", lock_path);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (alive && absl::Now() - last_alive > absl::Seconds(1)) {
      alive();
      last_alive = absl::Now();
    }
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EvalCache>> EvalCache::Create(EvalCacheOptions options) {
  if (options.root.empty()) {
    return absl::InvalidArgumentError("evaluation cache: no root folder given");
  }
  if (options.max_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "evaluation cache: the size bound must be positive, got ", options.max_bytes,
        " bytes"));
  }
  std::error_code ec;
  fs::create_directories(options.root, ec);
  if (ec || !fs::is_directory(options.root)) {
    return absl::InternalError(absl::StrCat("evaluation cache: cannot create folder ",
                                            options.root, ": ", ec.message()));
  }
  options.root = fs::absolute(options.root).lexically_normal().string();
  return std::unique_ptr<EvalCache>(new EvalCache(std::move(options)));
}

absl::StatusOr<std::unique_ptr<DatasetSource>> EvalCache::Open(
    const DatasetSource& source, const std::vector<Example>& examples,
    const DatasetOptions& options, const std::function<void()>& alive) {
  RIB_ASSIGN_OR_RETURN(const std::string prefix, KeyPrefix(source, options));
  RIB_ASSIGN_OR_RETURN(const Lut lut, NormalisationTable(options.preprocessing));
  // One entry per subset, its examples in the order given.
  std::vector<std::string> order;
  std::map<std::string, std::vector<Example>> by_subset;
  for (const Example& e : examples) {
    auto [it, fresh] = by_subset.try_emplace(e.subset);
    if (fresh) order.push_back(e.subset);
    it->second.push_back(e);
  }
  auto cached = std::make_unique<CachedSource>(source, lut);
  for (const std::string& subset : order) {
    EntrySpec spec;
    spec.examples = std::move(by_subset[subset]);
    spec.height = spec.width = options.preprocessing.image_size;
    std::string text = absl::StrCat(prefix, "subset ", subset, "\n");
    for (const Example& e : spec.examples) AppendExample(e, &text);
    spec.key = Sha256Hex(text);
    spec.path = absl::StrCat(options_.root, "/", spec.key, kEvalCacheEntrySuffix);
    const std::string what = absl::StrCat(source.key(), subset.empty() ? "" : " ", subset);
    const int64_t bytes =
        LayoutOf(static_cast<int64_t>(spec.examples.size()), spec.image_bytes()).total;
    if (bytes > options_.max_bytes) {
      RIB_LOG(INFO) << "evaluation cache: " << what << " needs " << bytes
                    << " bytes, more than the cache's " << options_.max_bytes
                    << ": decoded without the cache";
      internal::UpdateEvalCacheCounters(options_.root, 0, 1, nullptr, nullptr);
      ++misses_;
      return nullptr;
    }
    auto open_verified = [&]() -> absl::StatusOr<std::unique_ptr<Mapping>> {
      RIB_ASSIGN_OR_RETURN(std::unique_ptr<Mapping> m, OpenEntry(spec));
      RIB_RETURN_IF_ERROR(SpotCheck(source, spec, *m, lut));
      return m;
    };
    absl::StatusOr<std::unique_ptr<Mapping>> mapping = open_verified();
    bool hit = mapping.ok();
    if (!mapping.ok()) {
      RIB_ASSIGN_OR_RETURN(Fd lock, LockForBuild(absl::StrCat(options_.root, "/", spec.key,
                                                              ".lock"),
                                                 alive));
      // Built by another process while this one waited?
      mapping = open_verified();
      hit = mapping.ok();
      if (absl::IsDataLoss(mapping.status())) {
        RIB_LOG(WARNING) << "evaluation cache: entry " << spec.path << " of " << what
                         << " is corrupt (" << mapping.status().message()
                         << "): deleted, building it again";
        ::unlink(spec.path.c_str());
      } else if (!mapping.ok() && !absl::IsNotFound(mapping.status())) {
        return mapping.status();
      }
      if (!mapping.ok()) {
        const absl::Time start = absl::Now();
        RIB_ASSIGN_OR_RETURN(bool built,
                             BuildEntry(source, spec, lut, options_.threads, alive));
        if (!built) {
          internal::UpdateEvalCacheCounters(options_.root, 0, 1, nullptr, nullptr);
          ++misses_;
          return nullptr;
        }
        RIB_LOG(INFO) << "evaluation cache: built " << what << " ("
                      << spec.examples.size() << " images, " << bytes << " bytes) in "
                      << absl::FormatDuration(absl::Now() - start) << ": " << spec.path;
        mapping = OpenEntry(spec);
        if (!mapping.ok()) {
          return absl::InternalError(absl::StrCat("evaluation cache: entry ", spec.path,
                                                  " just built does not verify: ",
                                                  mapping.status().message()));
        }
        // Held under its shared lock now, so eviction passes over it.
        Evict(options_.root, options_.max_bytes);
      }
    }
    internal::UpdateEvalCacheCounters(options_.root, hit ? 1 : 0, hit ? 0 : 1, nullptr,
                                      nullptr);
    ++(hit ? hits_ : misses_);
    cached->Add(*std::move(mapping), spec);
  }
  return std::unique_ptr<DatasetSource>(std::move(cached));
}

}  // namespace rib::data
