// The real benchmark's layouts (DESIGN §4.1): ImageFolder-style trees whose class lists
// come from the data (or an explicit class-list file), never from a guess.
#include "worker/data/layouts.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/core.hpp>
#include <set>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "spec/data_layout.h"
#include "worker/data/image.h"
#include "worker/data/imagenet_classes.h"
#include "worker/data/imagenet_val.h"
#include "worker/data/objectnet.h"

namespace rib::data::internal {
namespace fs = std::filesystem;

namespace {

// Thread-safe: immutable after construction.
class FolderSource : public DatasetSource {
 public:
  FolderSource(std::string key, LabelSpace labels, std::vector<Example> examples,
               std::vector<std::string> subsets, rib::Preprocessing pre, int border)
      : key_(std::move(key)),
        labels_(std::move(labels)),
        examples_(std::move(examples)),
        subsets_(std::move(subsets)),
        pre_(std::move(pre)),
        border_(border) {}

  const std::string& key() const override { return key_; }
  const LabelSpace& label_space() const override { return labels_; }
  const std::vector<Example>& examples() const override { return examples_; }
  std::vector<std::string> subsets() const override { return subsets_; }

  absl::StatusOr<torch::Tensor> LoadImage(const Example& example) const override {
    RIB_ASSIGN_OR_RETURN(cv::Mat rgb, DecodeImageFile(example.path));
    if (border_ > 0) {
      // ObjectNet images carry a 1-2 px red border; the reference code crops 2 px.
      if (rgb.cols <= 2 * border_ || rgb.rows <= 2 * border_) {
        return absl::DataLossError(
            absl::StrCat("image too small for the border crop: ", example.path));
      }
      rgb =
          rgb(cv::Rect(border_, border_, rgb.cols - 2 * border_, rgb.rows - 2 * border_));
    }
    return PreprocessImage(rgb, pre_);
  }

 private:
  const std::string key_;
  const LabelSpace labels_;
  const std::vector<Example> examples_;
  const std::vector<std::string> subsets_;
  const rib::Preprocessing pre_;
  const int border_;
};


absl::StatusOr<std::vector<std::string>> ListDirs(const fs::path& dir,
                                                  const std::string& key) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(key, ": folder not found: ", dir.string()));
  }
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory()) out.push_back(e.path().filename().string());
  }
  if (ec)
    return absl::InternalError(
        absl::StrCat(key, ": cannot list ", dir.string(), ": ", ec.message()));
  std::sort(out.begin(), out.end());
  return out;
}

// Sorted image files of one class folder; FAILED_PRECONDITION when there are none.
absl::StatusOr<std::vector<std::string>> ListImages(const fs::path& dir,
                                                    const std::string& key) {
  std::error_code ec;
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && IsImageFile(e.path()))
      out.push_back(e.path().filename().string());
  }
  if (ec)
    return absl::InternalError(
        absl::StrCat(key, ": cannot list ", dir.string(), ": ", ec.message()));
  if (out.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(key, ": class folder has no images: ", dir.string()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<std::string>> ReadClassList(const std::string& file) {
  std::ifstream in(file);
  if (!in) return absl::NotFoundError(absl::StrCat("class list file not found: ", file));
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (std::string line; std::getline(in, line);) {
    auto stripped = absl::StripAsciiWhitespace(line);
    if (stripped.empty()) continue;
    // First token: accepts plain wnid lists and "wnid lemma, ..." synset files.
    std::string id(stripped.substr(0, stripped.find_first_of(" \t")));
    if (!seen.insert(id).second) {
      return absl::FailedPreconditionError(
          absl::StrCat("class list ", file, " repeats ", id));
    }
    out.push_back(id);
  }
  if (out.empty())
    return absl::FailedPreconditionError(absl::StrCat("class list ", file, " is empty"));
  return out;
}

// The ImageNet-1K class ids in index order: the explicit file, else the built-in list.
absl::StatusOr<std::vector<std::string>> ImageNetClasses(const DatasetOptions& o) {
  if (!o.class_list_file.empty()) return ReadClassList(o.class_list_file);
  return ImageNet1kWnids();
}

absl::StatusOr<std::unordered_map<std::string, int64_t>> IndexOf(
    const std::vector<std::string>& classes) {
  std::unordered_map<std::string, int64_t> idx;
  for (size_t i = 0; i < classes.size(); ++i)
    idx.emplace(classes[i], static_cast<int64_t>(i));
  return idx;
}

// How examples are grouped for the split (SplitDataset).
enum class Grouping {
  kNone,        // each example is its own group
  kPhoto,       // renderings of ImageNet val photos: by the photo's name
  kPhotoOrFile  // ImageNet-C: by the photo's name, else by (class folder, file name)
};

// Sets Example::photo/group/source. ImageNet-C, -Cartoon and -Drawing keep the val photos'
// file names, so a photo is recognised by its stem in every one of them.
void SetGroup(Grouping grouping, const std::string& folder, const std::string& file,
              Example* e) {
  if (grouping == Grouping::kNone) return;
  const std::string stem = fs::path(file).stem().string();
  if (ImageNetValPhotoNumber(stem) > 0) {
    e->photo = stem;
    e->group = stem;
    e->source = stem;
    return;
  }
  e->source = kUnknownSource;  // a rendering of some val photo, but which one?
  if (grouping == Grouping::kPhotoOrFile) e->group = absl::StrCat(folder, "/", file);
}

// Appends the images of `dir`/<class folder>/* with labels label_of(folder).
absl::Status AddClassFolders(const fs::path& dir, const std::string& key,
                             const std::vector<std::string>& folders,
                             const std::unordered_map<std::string, int64_t>& label_of,
                             const std::string& subset, Grouping grouping,
                             std::vector<Example>* out) {
  for (const auto& folder : folders) {
    auto it = label_of.find(folder);
    if (it == label_of.end()) {
      return absl::FailedPreconditionError(absl::StrCat(key, ": class folder '", folder,
                                                        "' in ", dir.string(),
                                                        " is not in the class list"));
    }
    RIB_ASSIGN_OR_RETURN(auto files, ListImages(dir / folder, key));
    for (const auto& f : files) {
      Example e;
      e.path = (dir / folder / f).string();
      e.label = it->second;
      e.subset = subset;
      SetGroup(grouping, folder, f, &e);
      e.index = static_cast<int64_t>(out->size());
      out->push_back(std::move(e));
    }
  }
  return absl::OkStatus();
}

// What a layout yields; FolderSource is built from it.
struct Parts {
  LabelSpace labels;
  std::vector<Example> examples;
  std::vector<std::string> subsets;
  int border = 0;
};

void SetThousandWay(const std::vector<std::string>& classes, LabelSpace* labels) {
  labels->num_model_classes = static_cast<int64_t>(classes.size());
  labels->label_names = classes;
}

// imagenet-v2: folders 0..999 are class indices.
absl::Status OpenV2(const fs::path& root, const std::string& key, const DatasetOptions& o,
                    Parts* p) {
  RIB_ASSIGN_OR_RETURN(auto folders, ListDirs(root, key));
  std::unordered_map<std::string, int64_t> label_of;
  for (const auto& f : folders) {
    int64_t v;
    if (!absl::SimpleAtoi(f, &v) || v < 0 || v >= kImageNetClasses ||
        absl::StrCat(v) != f) {
      return absl::FailedPreconditionError(absl::StrCat(
          key, ": folder '", f, "' in ", root.string(), " is not a class index 0..999"));
    }
    label_of[f] = v;
  }
  RIB_ASSIGN_OR_RETURN(auto classes, ImageNetClasses(o));
  if (classes.size() == kImageNetClasses) {
    p->labels.label_names = classes;
  } else {
    for (int i = 0; i < kImageNetClasses; ++i) p->labels.label_names.push_back(absl::StrCat(i));
  }
  return AddClassFolders(root, key, folders, label_of, "", Grouping::kNone, &p->examples);
}

// imagenet-a, imagenet-r: 200 classes; labels index the folders present, logits are
// restricted to them.
absl::Status OpenMasked(const fs::path& root, const std::string& key,
                        const DatasetOptions& o, Parts* p) {
  RIB_ASSIGN_OR_RETURN(auto folders, ListDirs(root, key));
  if (folders.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(key, ": no class folders in ", root.string()));
  }
  RIB_ASSIGN_OR_RETURN(auto classes, ImageNetClasses(o));
  RIB_ASSIGN_OR_RETURN(auto index, IndexOf(classes));
  p->labels.num_model_classes = static_cast<int64_t>(classes.size());
  std::unordered_map<std::string, int64_t> label_of;
  for (const auto& f : folders) {
    auto it = index.find(f);
    if (it == index.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat(key, ": class folder '", f, "' is not an ImageNet-1K class"));
    }
    label_of[f] = static_cast<int64_t>(p->labels.label_names.size());
    p->labels.label_names.push_back(f);
    p->labels.class_subset.push_back(it->second);
  }
  return AddClassFolders(root, key, folders, label_of, "", Grouping::kNone, &p->examples);
}

// imagenet-c (the 15 benchmark corruptions) and imagenet-c-extra (the 4 extras): every
// corruption x severity subset of `wanted` must be there, as published.
absl::Status OpenCorruptions(const fs::path& root, const std::string& key,
                             const std::vector<std::string>& wanted,
                             const DatasetOptions& o, Parts* p) {
  RIB_ASSIGN_OR_RETURN(auto present, ListDirs(root, key));
  const auto& main = spec::ImageNetCCorruptions();
  const auto& extra = spec::ImageNetCExtraCorruptions();
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  for (const auto& c : present) {
    if (!has(main, c) && !has(extra, c)) {
      return absl::FailedPreconditionError(
          absl::StrCat(key, ": unknown corruption folder '", c, "' in ", root.string()));
    }
  }
  std::vector<std::string> missing;
  for (const auto& c : wanted) {
    if (!has(present, c)) {
      missing.push_back(absl::StrCat(c, " (all ", spec::kImageNetCSeverities, ")"));
      continue;
    }
    RIB_ASSIGN_OR_RETURN(auto severities, ListDirs(root / c, key));
    for (const auto& s : severities) {
      int v = 0;
      if (!absl::SimpleAtoi(s, &v) || v < 1 || v > spec::kImageNetCSeverities ||
          absl::StrCat(v) != s) {
        return absl::FailedPreconditionError(absl::StrCat(
            key, ": severity folder '", s, "' in ", (root / c).string(), " is not 1..5"));
      }
    }
    for (int s = 1; s <= spec::kImageNetCSeverities; ++s) {
      if (!has(severities, absl::StrCat(s))) missing.push_back(absl::StrCat(c, "/", s));
    }
  }
  if (!missing.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        key, ": missing in ", root.string(), ": ", absl::StrJoin(missing, ", "), "; ",
        key, " is ", wanted.size(), " corruptions x ", spec::kImageNetCSeverities,
        " severities, all required",
        key == "imagenet-c" ? " (the 4 extra corruptions are the key imagenet-c-extra)"
                            : ""));
  }
  RIB_ASSIGN_OR_RETURN(auto classes, ImageNetClasses(o));
  RIB_ASSIGN_OR_RETURN(auto label_of, IndexOf(classes));
  SetThousandWay(classes, &p->labels);
  for (const auto& c : wanted) {
    for (int s = 1; s <= spec::kImageNetCSeverities; ++s) {
      const std::string subset = absl::StrCat(c, "/", s);
      RIB_ASSIGN_OR_RETURN(auto folders, ListDirs(root / c / absl::StrCat(s), key));
      p->subsets.push_back(subset);
      RIB_RETURN_IF_ERROR(AddClassFolders(root / subset, key, folders, label_of, subset,
                                          Grouping::kPhotoOrFile, &p->examples));
    }
  }
  return absl::OkStatus();
}

absl::Status OpenObjectNet(const fs::path& root, const std::string& key,
                           const DatasetOptions& o, Parts* p) {
  const fs::path images = root / "images";
  RIB_ASSIGN_OR_RETURN(auto folders, ListDirs(images, key));
  RIB_ASSIGN_OR_RETURN(ObjectNetMapping mapping,
                       LoadObjectNetMapping((root / "mappings").string(), o.objectnet_mode));
  std::set<int64_t> used;
  std::unordered_map<std::string, int64_t> label_of;
  std::vector<std::string> mapped;
  for (const auto& f : folders) {
    if (!mapping.known_folders.count(f)) {
      return absl::FailedPreconditionError(absl::StrCat(
          key, ": folder '", f, "' is not in mappings/folder_to_objectnet_label.json"));
    }
    auto it = mapping.folder_classes.find(f);
    if (it == mapping.folder_classes.end()) continue;  // no ImageNet-1K counterpart
    label_of[f] = static_cast<int64_t>(p->labels.label_names.size());
    p->labels.label_names.push_back(f);
    p->labels.accepted.push_back(it->second);
    used.insert(it->second.begin(), it->second.end());
    mapped.push_back(f);
  }
  if (mapped.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(key, ": no folder in ", images.string(), " maps to ImageNet-1K"));
  }
  p->labels.class_subset.assign(used.begin(), used.end());
  p->border = 2;
  return AddClassFolders(images, key, mapped, label_of, "", Grouping::kNone, &p->examples);
}

// imagenet/val as downloaded without class folders: the files themselves, labelled by
// the solution file or the devkit's ground truth (imagenet_val.h).
absl::Status OpenFlatVal(const fs::path& root, const std::string& key,
                         const DatasetOptions& o, const std::vector<std::string>& files,
                         Parts* p) {
  RIB_ASSIGN_OR_RETURN(FlatValLabels val, ReadFlatValLabels(o.data_root));
  RIB_ASSIGN_OR_RETURN(auto classes, ImageNetClasses(o));
  RIB_ASSIGN_OR_RETURN(auto label_of, IndexOf(classes));
  SetThousandWay(classes, &p->labels);
  for (const auto& f : files) {
    const std::string stem = fs::path(f).stem().string();
    auto it = val.wnid_of.find(stem);
    if (it == val.wnid_of.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          key, ": ", (root / f).string(), " has no label in ", val.source));
    }
    auto label = label_of.find(it->second);
    if (label == label_of.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          key, ": ", val.source, " labels ", stem, " '", it->second,
          "', which is not in the class list"));
    }
    Example e;
    e.path = (root / f).string();
    e.label = label->second;
    SetGroup(Grouping::kPhoto, "", f, &e);
    e.index = static_cast<int64_t>(p->examples.size());
    p->examples.push_back(std::move(e));
  }
  return absl::OkStatus();
}

// imagenet-val, -sketch, -cartoon, -drawing: 1000-way, labels = class index of the
// folder's wnid. imagenet/val may instead be flat, as downloaded.
absl::Status OpenThousandWay(const fs::path& root, const std::string& key,
                             const DatasetOptions& o, Parts* p) {
  RIB_ASSIGN_OR_RETURN(auto folders, ListDirs(root, key));
  if (key == "imagenet-val") {
    auto files = ListImages(root, key);
    if (files.ok() && folders.empty()) return OpenFlatVal(root, key, o, *files, p);
    if (files.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          key, ": ", root.string(), " holds both class folders and ", files->size(),
          " loose images; use one layout: <wnid>/ folders, or the flat files with ",
          spec::kImageNetValSolutionCsv));
    }
  }
  if (folders.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(key, ": no class folders in ", root.string()));
  }
  RIB_ASSIGN_OR_RETURN(auto classes, ImageNetClasses(o));
  RIB_ASSIGN_OR_RETURN(auto label_of, IndexOf(classes));
  SetThousandWay(classes, &p->labels);
  const Grouping grouping =
      RendersImageNetValPhotos(key) ? Grouping::kPhoto : Grouping::kNone;
  return AddClassFolders(root, key, folders, label_of, "", grouping, &p->examples);
}

}  // namespace

bool IsImageFile(const fs::path& p) {
  static const std::set<std::string> kExt = {".jpg", ".jpeg", ".png",  ".ppm", ".bmp",
                                             ".pgm", ".tif",  ".tiff", ".webp"};
  return kExt.count(absl::AsciiStrToLower(p.extension().string())) > 0;
}

bool RendersImageNetValPhotos(const std::string& key) {
  return key == "imagenet-val" || key == "imagenet-c" || key == "imagenet-c-extra" ||
         key == "imagenet-cartoon" || key == "imagenet-drawing";
}

absl::StatusOr<std::unique_ptr<DatasetSource>> OpenImageNetLayout(
    const std::string& key, const DatasetOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(options.data_root, ec)) {
    return absl::NotFoundError(absl::StrCat("data root not found: ", options.data_root));
  }
  const std::string folder = spec::FindDatasetFolder(options.data_root, key);
  if (folder.empty()) {
    return absl::NotFoundError(absl::StrCat(
        key, ": folder not found: ",
        absl::StrJoin(spec::DatasetFolderCandidates(key), " or ",
                      [&](std::string* out, const std::string& f) {
                        out->append((fs::path(options.data_root) / f).string());
                      })));
  }
  const fs::path root = fs::path(options.data_root) / folder;
  Parts p;
  p.labels.num_model_classes = kImageNetClasses;
  absl::Status st;
  if (key == "imagenet-v2") {
    st = OpenV2(root, key, options, &p);
  } else if (key == "imagenet-a" || key == "imagenet-r") {
    st = OpenMasked(root, key, options, &p);
  } else if (key == "imagenet-c") {
    st = OpenCorruptions(root, key, spec::ImageNetCCorruptions(), options, &p);
  } else if (key == "imagenet-c-extra") {
    st = OpenCorruptions(root, key, spec::ImageNetCExtraCorruptions(), options, &p);
  } else if (key == "objectnet") {
    st = OpenObjectNet(root, key, options, &p);
  } else {
    st = OpenThousandWay(root, key, options, &p);
  }
  RIB_RETURN_IF_ERROR(st);
  return std::unique_ptr<DatasetSource>(
      new FolderSource(key, std::move(p.labels), std::move(p.examples),
                       std::move(p.subsets), options.preprocessing, p.border));
}

}  // namespace rib::data::internal
