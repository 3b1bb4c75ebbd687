#include "worker/data/imagenet_val.h"

#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "spec/data_layout.h"

namespace rib::data::internal {
namespace fs = std::filesystem;

namespace {

constexpr absl::string_view kPhotoPrefix = "ILSVRC2012_val_";

absl::Status Malformed(absl::string_view file, size_t line, absl::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat(file, " line ", line, ": ", why));
}

absl::StatusOr<FlatValLabels> ReadSolutionCsv(const fs::path& path,
                                              const std::string& name) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  FlatValLabels out;
  out.source = name;
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    const absl::string_view row = absl::StripAsciiWhitespace(line);
    if (n == 1) {
      if (row != "ImageId,PredictionString") {
        return Malformed(name, n, "the header must be 'ImageId,PredictionString'");
      }
      continue;
    }
    if (row.empty()) continue;
    const std::vector<absl::string_view> cols = absl::StrSplit(row, absl::MaxSplits(',', 1));
    if (cols.size() != 2 || ImageNetValPhotoNumber(cols[0]) < 0) {
      return Malformed(name, n, "expected 'ILSVRC2012_val_<8 digits>,<wnid> ...'");
    }
    const absl::string_view preds = absl::StripAsciiWhitespace(cols[1]);
    const absl::string_view wnid = preds.substr(0, preds.find(' '));
    if (wnid.empty()) return Malformed(name, n, "no wnid in the prediction string");
    if (!out.wnid_of.emplace(std::string(cols[0]), std::string(wnid)).second) {
      return Malformed(name, n, absl::StrCat("repeats ", cols[0]));
    }
  }
  if (out.wnid_of.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(name, " has no rows"));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ReadIdToWnid(const fs::path& path,
                                                      const std::string& name) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  std::vector<std::string> wnids;
  absl::flat_hash_set<std::string> seen;
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    const absl::string_view row = absl::StripAsciiWhitespace(line);
    if (row.empty()) continue;
    std::string wnid(row.substr(0, row.find_first_of(" \t")));
    if (!seen.insert(wnid).second) return Malformed(name, n, absl::StrCat("repeats ", wnid));
    wnids.push_back(std::move(wnid));
  }
  if (wnids.size() != 1000) {
    return absl::FailedPreconditionError(absl::StrCat(
        name, " has ", wnids.size(),
        " wnids; it needs 1000, line k the wnid of ILSVRC2012 ID k"));
  }
  return wnids;
}

absl::StatusOr<FlatValLabels> ReadGroundTruth(const fs::path& gt, const std::string& name,
                                              const std::vector<std::string>& wnids) {
  std::ifstream in(gt);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", gt.string()));
  FlatValLabels out;
  out.source = name;
  int64_t photo = 0;
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    const absl::string_view row = absl::StripAsciiWhitespace(line);
    if (row.empty()) continue;
    int id = 0;
    if (!absl::SimpleAtoi(row, &id) || id < 1 || id > 1000) {
      return Malformed(name, n, "expected an ILSVRC2012 ID 1..1000");
    }
    ++photo;
    out.wnid_of.emplace(absl::StrFormat("%s%08d", kPhotoPrefix, photo), wnids[id - 1]);
  }
  if (photo > kImageNetValPhotos) {
    return absl::FailedPreconditionError(absl::StrCat(
        name, " has ", photo, " IDs; ImageNet val has ", kImageNetValPhotos, " photos"));
  }
  return out;
}

}  // namespace

int64_t ImageNetValPhotoNumber(absl::string_view stem) {
  if (!absl::ConsumePrefix(&stem, kPhotoPrefix) || stem.size() != 8) return -1;
  int64_t v = 0;
  for (char c : stem) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return -1;
    v = v * 10 + (c - '0');
  }
  return v >= 1 && v <= kImageNetValPhotos ? v : -1;
}

absl::StatusOr<FlatValLabels> ReadFlatValLabels(const std::string& data_root) {
  const fs::path root(data_root);
  std::error_code ec;
  if (fs::exists(root / spec::kImageNetValSolutionCsv, ec)) {
    return ReadSolutionCsv(root / spec::kImageNetValSolutionCsv,
                           spec::kImageNetValSolutionCsv);
  }
  const bool gt = fs::exists(root / spec::kImageNetValGroundTruth, ec);
  const bool map = fs::exists(root / spec::kImageNetIdToWnid, ec);
  if (gt && map) {
    RIB_ASSIGN_OR_RETURN(auto wnids,
                         ReadIdToWnid(root / spec::kImageNetIdToWnid, spec::kImageNetIdToWnid));
    return ReadGroundTruth(root / spec::kImageNetValGroundTruth,
                           spec::kImageNetValGroundTruth, wnids);
  }
  if (gt) {
    return absl::NotFoundError(absl::StrCat(
        spec::kImageNetValGroundTruth, " holds ILSVRC2012 IDs, not class indices; ",
        spec::kImageNetIdToWnid, " (line k: the wnid of ID k) is needed with it"));
  }
  return absl::NotFoundError(absl::StrCat(
      "imagenet/val holds images without class folders; their labels come from ",
      spec::kImageNetValSolutionCsv, " or from ", spec::kImageNetValGroundTruth, " with ",
      spec::kImageNetIdToWnid, ": none found under ", data_root));
}

}  // namespace rib::data::internal
