#include "worker/data/fmnist_set.h"

#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace rib::data::internal {
namespace {

constexpr char kMagic[8] = {'R', 'I', 'B', 'F', 'M', 'N', '0', '1'};

class Writer {
 public:
  void I64(int64_t v) { Raw(&v, sizeof v); }
  void I32(int32_t v) { Raw(&v, sizeof v); }
  void Str(const std::string& s) {
    I32(static_cast<int32_t>(s.size()));
    Raw(s.data(), s.size());
  }
  void Raw(const void* p, size_t n) { buf_.append(static_cast<const char*>(p), n); }
  const std::string& buf() const { return buf_; }

 private:
  std::string buf_;
};

class Reader {
 public:
  Reader(const std::string& data, const std::string& path) : data_(data), path_(path) {}
  absl::Status Raw(void* p, size_t n) {
    if (pos_ + n > data_.size()) {
      return absl::DataLossError(absl::StrCat("truncated FMNIST-RIB file: ", path_));
    }
    std::memcpy(p, data_.data() + pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> I64() {
    int64_t v;
    RIB_RETURN_IF_ERROR(Raw(&v, sizeof v));
    return v;
  }
  absl::StatusOr<int32_t> I32() {
    int32_t v;
    RIB_RETURN_IF_ERROR(Raw(&v, sizeof v));
    return v;
  }
  absl::StatusOr<int64_t> Count(int64_t max) {
    RIB_ASSIGN_OR_RETURN(int64_t v, I64());
    if (v < 0 || v > max)
      return absl::DataLossError(absl::StrCat("bad count in ", path_));
    return v;
  }
  absl::StatusOr<std::string> Str() {
    RIB_ASSIGN_OR_RETURN(int32_t n, I32());
    if (n < 0 || pos_ + n > data_.size()) {
      return absl::DataLossError(absl::StrCat("bad string in ", path_));
    }
    std::string s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  const std::string& data_;
  const std::string& path_;
  size_t pos_ = 0;
};

}  // namespace

absl::Status WriteFmnistSet(const std::string& path, const FmnistSet& set) {
  Writer w;
  w.Raw(kMagic, sizeof kMagic);
  w.I64(set.size());
  w.I64(set.h);
  w.I64(set.w);
  w.I64(set.c);
  w.I64(set.labels.num_model_classes);
  w.I64(set.labels.num_labels());
  for (int64_t l = 0; l < set.labels.num_labels(); ++l) {
    w.Str(set.labels.label_names[l]);
    const std::vector<int64_t> none;
    const auto& acc = l < static_cast<int64_t>(set.labels.accepted.size())
                          ? set.labels.accepted[l]
                          : none;
    w.I64(static_cast<int64_t>(acc.size()));
    for (int64_t a : acc) w.I64(a);
  }
  w.I64(static_cast<int64_t>(set.labels.class_subset.size()));
  for (int64_t c : set.labels.class_subset) w.I64(c);
  w.I64(static_cast<int64_t>(set.subset_names.size()));
  for (const auto& s : set.subset_names) w.Str(s);
  for (int64_t i = 0; i < set.size(); ++i) {
    w.I64(set.label[i]);
    w.I32(set.subset[i]);
    w.I64(set.source[i]);
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(w.buf().data(), static_cast<std::streamsize>(w.buf().size()));
  out.write(reinterpret_cast<const char*>(set.pixels.data()),
            static_cast<std::streamsize>(set.pixels.size()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<FmnistSet> ReadFmnistSet(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("FMNIST-RIB file not found: ", path));
  std::string data((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  Reader r(data, path);
  char magic[8];
  RIB_RETURN_IF_ERROR(r.Raw(magic, sizeof magic));
  if (std::memcmp(magic, kMagic, sizeof magic) != 0) {
    return absl::DataLossError(absl::StrCat("not an FMNIST-RIB file: ", path));
  }
  FmnistSet set;
  constexpr int64_t kMax = int64_t{1} << 32;
  RIB_ASSIGN_OR_RETURN(int64_t n, r.Count(kMax));
  RIB_ASSIGN_OR_RETURN(set.h, r.Count(4096));
  RIB_ASSIGN_OR_RETURN(set.w, r.Count(4096));
  RIB_ASSIGN_OR_RETURN(set.c, r.Count(4));
  RIB_ASSIGN_OR_RETURN(set.labels.num_model_classes, r.Count(kMax));
  RIB_ASSIGN_OR_RETURN(int64_t num_labels, r.Count(kMax));
  set.labels.accepted.resize(num_labels);
  bool any_accepted = false;
  for (int64_t l = 0; l < num_labels; ++l) {
    RIB_ASSIGN_OR_RETURN(std::string name, r.Str());
    set.labels.label_names.push_back(std::move(name));
    RIB_ASSIGN_OR_RETURN(int64_t k, r.Count(kMax));
    for (int64_t j = 0; j < k; ++j) {
      RIB_ASSIGN_OR_RETURN(int64_t a, r.I64());
      set.labels.accepted[l].push_back(a);
      any_accepted = true;
    }
  }
  if (!any_accepted) set.labels.accepted.clear();
  RIB_ASSIGN_OR_RETURN(int64_t s, r.Count(kMax));
  for (int64_t j = 0; j < s; ++j) {
    RIB_ASSIGN_OR_RETURN(int64_t c, r.I64());
    set.labels.class_subset.push_back(c);
  }
  RIB_ASSIGN_OR_RETURN(int64_t m, r.Count(kMax));
  for (int64_t j = 0; j < m; ++j) {
    RIB_ASSIGN_OR_RETURN(std::string name, r.Str());
    set.subset_names.push_back(std::move(name));
  }
  set.label.resize(n);
  set.subset.resize(n);
  set.source.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    RIB_ASSIGN_OR_RETURN(set.label[i], r.I64());
    RIB_ASSIGN_OR_RETURN(set.subset[i], r.I32());
    RIB_ASSIGN_OR_RETURN(set.source[i], r.I64());
    if (set.label[i] < 0 || set.label[i] >= num_labels || set.subset[i] < -1 ||
        set.subset[i] >= static_cast<int32_t>(m)) {
      return absl::DataLossError(absl::StrCat("bad label or subset in ", path));
    }
  }
  set.pixels.resize(static_cast<size_t>(n * set.h * set.w * set.c));
  RIB_RETURN_IF_ERROR(r.Raw(set.pixels.data(), set.pixels.size()));
  return set;
}

}  // namespace rib::data::internal
