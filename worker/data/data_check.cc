#include "worker/data/data_check.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "spec/data_layout.h"
#include "spec/suites.h"
#include "worker/data/imagenet_val.h"
#include "worker/data/layouts.h"

namespace rib::data {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kValPhotos = internal::kImageNetValPhotos;

// Folder names of other downloads' habits, and where rib wants them.
const std::map<std::string, std::string>& KnownMisnamings() {
  static const auto* m = new std::map<std::string, std::string>{
      {"imagenetv2-matched-frequency-format-val",
       "imagenet-v2/imagenetv2-matched-frequency-format-val"},
      {"objectnet", "objectnet-1.0"},
      {"val", "imagenet/val"},
      {"imagenet-val", "imagenet/val"},
      {"ILSVRC",
       "imagenet/val (Kaggle's ILSVRC/Data/CLS-LOC/val, with LOC_val_solution.csv as "
       "imagenet/LOC_val_solution.csv)"},
  };
  return *m;
}

// Every first path component rib reads under a data root.
std::set<std::string> AcceptedTopFolders() {
  std::set<std::string> out = {"fmnist-rib"};
  for (const auto& p : PublishedDatasetCounts()) {
    for (const auto& f : spec::DatasetFolderCandidates(p.key))
      out.insert(f.substr(0, f.find('/')));
  }
  return out;
}

void Compare(const char* what, int64_t found, int64_t published,
             std::vector<std::string>* problems) {
  if (found != published) {
    problems->push_back(absl::StrCat(what, ": ", found, " found, ", published, " published"));
  }
}

// ObjectNet's own counts: every folder of images/, not only the 113 rib evaluates.
void CountObjectNet(const fs::path& images, DatasetCheck* c) {
  std::error_code ec;
  int64_t images_found = 0, folders = 0;
  for (const auto& d : fs::directory_iterator(images, ec)) {
    if (!d.is_directory()) continue;
    ++folders;
    for (const auto& f : fs::directory_iterator(d.path(), ec))
      if (f.is_regular_file() && internal::IsImageFile(f.path())) ++images_found;
  }
  c->notes.push_back(absl::StrCat(c->images, " images in ", c->classes,
                                  " folders map to ImageNet-1K and are evaluated"));
  c->images = images_found;
  c->classes = folders;
}

void CheckOpened(const DatasetSource& src, const fs::path& root, DatasetCheck* c) {
  const auto& ex = src.examples();
  std::set<int64_t> labels;
  std::map<std::string, int64_t> per_subset;
  int64_t unnamed = 0;
  for (const auto& e : ex) {
    labels.insert(e.label);
    if (!e.subset.empty()) ++per_subset[e.subset];
    if (e.photo.empty()) ++unnamed;
  }
  c->images = static_cast<int64_t>(ex.size());
  c->classes = static_cast<int64_t>(labels.size());
  c->subsets = static_cast<int64_t>(src.subsets().size());
  if (c->key == "objectnet") CountObjectNet(root / "images", c);
  Compare("images", c->images, c->published.images, &c->problems);
  Compare("classes", c->classes, c->published.classes, &c->problems);
  if (c->published.subsets > 0) {
    std::vector<std::string> short_subsets;
    for (const auto& s : src.subsets()) {
      if (per_subset[s] != kValPhotos)
        short_subsets.push_back(absl::StrCat(s, " (", per_subset[s], ")"));
    }
    if (!short_subsets.empty()) {
      const size_t n = short_subsets.size();
      if (n > 5) short_subsets.resize(5);
      c->problems.push_back(absl::StrCat(n, " subsets without ", kValPhotos,
                                         " images: ", absl::StrJoin(short_subsets, ", "),
                                         n > 5 ? ", ..." : ""));
    }
  }
  if (internal::RendersImageNetValPhotos(c->key) && unnamed > 0) {
    c->problems.push_back(absl::StrCat(
        unnamed, " files not named ILSVRC2012_val_<8 digits>: the split cannot keep them "
        "on the side of their photo in the other renderings"));
  }
}

}  // namespace

const std::vector<PublishedCounts>& PublishedDatasetCounts() {
  const int64_t c = static_cast<int64_t>(spec::ImageNetCCorruptions().size()) *
                    spec::kImageNetCSeverities;
  const int64_t x = static_cast<int64_t>(spec::ImageNetCExtraCorruptions().size()) *
                    spec::kImageNetCSeverities;
  static const auto* counts = new std::vector<PublishedCounts>{
      {"imagenet-val", kValPhotos, 1000, 0},
      {"imagenet-v2", 10000, 1000, 0},
      {"imagenet-a", 7500, 200, 0},
      {"imagenet-r", 30000, 200, 0},
      {"imagenet-sketch", 50889, 1000, 0},
      {"objectnet", 50000, 313, 0},
      {"imagenet-cartoon", kValPhotos, 1000, 0},
      {"imagenet-drawing", kValPhotos, 1000, 0},
      {"imagenet-c", c * kValPhotos, 1000, c},
      {"imagenet-c-extra", x * kValPhotos, 1000, x},
  };
  return *counts;
}

std::string DatasetCheck::Status() const {
  if (folder.empty()) return "missing";
  if (!opened) return "error";
  return problems.empty() ? "ok" : "differs";
}

absl::StatusOr<std::vector<DatasetCheck>> CheckDataRoot(const DatasetOptions& options) {
  std::error_code ec;
  if (options.data_root.empty() || !fs::is_directory(options.data_root, ec)) {
    return absl::NotFoundError(absl::StrCat("data root not found: ", options.data_root));
  }
  const std::vector<std::string> available = spec::ListAvailableDatasets(options.data_root);
  std::vector<DatasetCheck> out;
  for (const PublishedCounts& pub : PublishedDatasetCounts()) {
    DatasetCheck c;
    c.key = pub.key;
    c.published = pub;
    const auto candidates = spec::DatasetFolderCandidates(pub.key);
    if (std::find(available.begin(), available.end(), pub.key) == available.end()) {
      c.problems.push_back(
          pub.key == "imagenet-c-extra"
              ? absl::StrCat("not found: none of ",
                             absl::StrJoin(spec::ImageNetCExtraCorruptions(), ", "),
                             " in imagenet-c/ (optional)")
              : absl::StrCat("not found: looked for ", absl::StrJoin(candidates, " or ")));
      out.push_back(std::move(c));
      continue;
    }
    c.folder = spec::FindDatasetFolder(options.data_root, pub.key);
    if (c.folder != candidates.front())
      c.notes.push_back(absl::StrCat("read from ", c.folder, "/, accepted for ",
                                     candidates.front(), "/"));
    auto src = OpenDataset(pub.key, options);
    if (!src.ok()) {
      c.problems.push_back(std::string(src.status().message()));
    } else {
      c.opened = true;
      CheckOpened(**src, fs::path(options.data_root) / c.folder, &c);
    }
    out.push_back(std::move(c));
  }
  // Folders rib does not read: a known other name says where it belongs.
  DatasetCheck root;
  root.key = "(root)";
  root.folder = ".";
  root.opened = true;
  const std::set<std::string> accepted = AcceptedTopFolders();
  std::vector<std::string> dirs;
  for (const auto& e : fs::directory_iterator(options.data_root, ec))
    if (e.is_directory()) dirs.push_back(e.path().filename().string());
  std::sort(dirs.begin(), dirs.end());
  for (const auto& d : dirs) {
    if (accepted.count(d)) continue;
    auto known = KnownMisnamings().find(d);
    std::string as = absl::StrReplaceAll(absl::AsciiStrToLower(d), {{"_", "-"}});
    if (known != KnownMisnamings().end()) {
      root.problems.push_back(absl::StrCat("misnamed: ", d, "/ should be ", known->second));
    } else if (accepted.count(as)) {
      root.problems.push_back(absl::StrCat("misnamed: ", d, "/ should be ", as, "/"));
    } else {
      root.notes.push_back(absl::StrCat("not read: ", d, "/"));
    }
  }
  if (!root.problems.empty() || !root.notes.empty()) out.push_back(std::move(root));
  return out;
}

std::string FormatDataCheck(const std::vector<DatasetCheck>& checks) {
  std::string out = absl::StrFormat("%-17s %-8s %-17s %9s %9s %7s %7s\n", "dataset",
                                    "status", "folder", "images", "published", "classes",
                                    "published");
  for (const auto& c : checks) {
    if (c.key == "(root)") {
      out += absl::StrFormat("%-17s %s\n", c.key, c.problems.empty() ? "ok" : "differs");
    } else if (c.folder.empty()) {
      out += absl::StrFormat("%-17s %-8s %-17s %9s %9d %7s %7d\n", c.key, c.Status(), "-",
                             "-", c.published.images, "-", c.published.classes);
    } else {
      out += absl::StrFormat("%-17s %-8s %-17s %9d %9d %7d %7d\n", c.key, c.Status(),
                             c.folder, c.images, c.published.images, c.classes,
                             c.published.classes);
    }
    for (const auto& p : c.problems) out += absl::StrCat("    ", p, "\n");
    for (const auto& n : c.notes) out += absl::StrCat("    (", n, ")\n");
  }
  return out;
}

}  // namespace rib::data
