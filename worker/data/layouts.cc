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
#include "common/status_macros.h"
#include "spec/data_layout.h"
#include "worker/data/image.h"
#include "worker/data/objectnet.h"

namespace rib::data::internal {
namespace fs = std::filesystem;

namespace {

constexpr int kImageNetClasses = 1000;

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

bool IsImageFile(const fs::path& p) {
  static const std::set<std::string> kExt = {".jpg", ".jpeg", ".png",  ".ppm", ".bmp",
                                             ".pgm", ".tif",  ".tiff", ".webp"};
  return kExt.count(absl::AsciiStrToLower(p.extension().string())) > 0;
}

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

// The ImageNet-1K class ids in index order: the explicit file, else the dataset's own
// 1000 folders, else imagenet/val's 1000 folders under the same root.
absl::StatusOr<std::vector<std::string>> ImageNetClasses(
    const DatasetOptions& o, const std::string& key,
    const std::vector<std::string>& own) {
  if (!o.class_list_file.empty()) return ReadClassList(o.class_list_file);
  if (own.size() == kImageNetClasses) return own;
  const fs::path val = fs::path(o.data_root) / "imagenet" / "val";
  std::error_code ec;
  if (fs::is_directory(val, ec)) {
    auto dirs = ListDirs(val, key);
    if (dirs.ok() && dirs->size() == kImageNetClasses) return *dirs;
  }
  return absl::FailedPreconditionError(
      absl::StrCat(key, " has ", own.size(),
                   " class folders; the ImageNet-1K class list (1000 wnids) is "
                   "needed to label it: set class_list_file or provide imagenet/val with "
                   "its 1000 folders"));
}

absl::StatusOr<std::unordered_map<std::string, int64_t>> IndexOf(
    const std::vector<std::string>& classes) {
  std::unordered_map<std::string, int64_t> idx;
  for (size_t i = 0; i < classes.size(); ++i)
    idx.emplace(classes[i], static_cast<int64_t>(i));
  return idx;
}

// Appends the images of `dir`/<class folder>/* with labels label_of(folder).
absl::Status AddClassFolders(const fs::path& dir, const std::string& key,
                             const std::vector<std::string>& folders,
                             const std::unordered_map<std::string, int64_t>& label_of,
                             const std::string& subset, bool group_by_file,
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
      // ImageNet-C keeps the validation file names: one source photo per (class, file).
      if (group_by_file) e.group = absl::StrCat(folder, "/", f);
      e.index = static_cast<int64_t>(out->size());
      out->push_back(std::move(e));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> Corruptions() {
  return {"gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
          "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
          "elastic_transform", "pixelate", "jpeg_compression",
          // the 4 extra ("validation") corruptions, accepted when present
          "speckle_noise", "gaussian_blur", "spatter", "saturate"};
}

}  // namespace

absl::StatusOr<std::unique_ptr<DatasetSource>> OpenImageNetLayout(
    const std::string& key, const DatasetOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(options.data_root, ec)) {
    return absl::NotFoundError(absl::StrCat("data root not found: ", options.data_root));
  }
  const fs::path root = fs::path(options.data_root) / spec::DatasetFolder(key);
  LabelSpace labels;
  labels.num_model_classes = kImageNetClasses;
  std::vector<Example> examples;
  std::vector<std::string> subsets;
  int border = 0;

  if (key == "imagenet-v2") {
    RIB_ASSIGN_OR_RETURN(auto folders, ListDirs(root, key));
    std::unordered_map<std::string, int64_t> label_of;
    for (const auto& f : folders) {
      int64_t v;
      if (!absl::SimpleAtoi(f, &v) || v < 0 || v >= kImageNetClasses ||
          absl::StrCat(v) != f) {
        return absl::FailedPreconditionError(
            absl::StrCat(key, ": folder '", f, "' in ", root.string(),
                         " is not a class index 0..999"));
      }
      label_of[f] = v;
    }
    auto classes = ImageNetClasses(options, key, {});
    if (classes.ok() && classes->size() == kImageNetClasses) {
      labels.label_names = *classes;
    } else {
      for (int i = 0; i < kImageNetClasses; ++i)
        labels.label_names.push_back(absl::StrCat(i));
    }
    RIB_RETURN_IF_ERROR(
        AddClassFolders(root, key, folders, label_of, "", false, &examples));
  } else if (key == "imagenet-a" || key == "imagenet-r") {
    // 200 classes: labels index the folders present; logits restricted to them.
    RIB_ASSIGN_OR_RETURN(auto folders, ListDirs(root, key));
    RIB_ASSIGN_OR_RETURN(auto classes, ImageNetClasses(options, key, {}));
    RIB_ASSIGN_OR_RETURN(auto index, IndexOf(classes));
    labels.num_model_classes = static_cast<int64_t>(classes.size());
    std::unordered_map<std::string, int64_t> label_of;
    for (const auto& f : folders) {
      auto it = index.find(f);
      if (it == index.end()) {
        return absl::FailedPreconditionError(
            absl::StrCat(key, ": class folder '", f, "' is not an ImageNet-1K class"));
      }
      label_of[f] = static_cast<int64_t>(labels.label_names.size());
      labels.label_names.push_back(f);
      labels.class_subset.push_back(it->second);
    }
    if (folders.empty())
      return absl::FailedPreconditionError(
          absl::StrCat(key, ": no class folders in ", root.string()));
    RIB_RETURN_IF_ERROR(
        AddClassFolders(root, key, folders, label_of, "", false, &examples));
  } else if (key == "imagenet-c") {
    RIB_ASSIGN_OR_RETURN(auto present, ListDirs(root, key));
    const auto known = Corruptions();
    for (const auto& c : present) {
      if (std::find(known.begin(), known.end(), c) == known.end()) {
        return absl::FailedPreconditionError(absl::StrCat(
            key, ": unknown corruption folder '", c, "' in ", root.string()));
      }
    }
    std::vector<std::string> class_folders;  // of the first subset, for the class list
    bool first = true;
    std::unordered_map<std::string, int64_t> label_of;
    for (const auto& c : known) {
      if (std::find(present.begin(), present.end(), c) == present.end()) continue;
      RIB_ASSIGN_OR_RETURN(auto severities, ListDirs(root / c, key));
      for (const auto& s : severities) {
        if (s.size() != 1 || s[0] < '1' || s[0] > '5') {
          return absl::FailedPreconditionError(absl::StrCat(key, ": severity folder '", s,
                                                            "' in ", (root / c).string(),
                                                            " is not 1..5"));
        }
      }
      for (const auto& s : severities) {
        RIB_ASSIGN_OR_RETURN(auto folders, ListDirs(root / c / s, key));
        if (first) {
          RIB_ASSIGN_OR_RETURN(auto classes, ImageNetClasses(options, key, folders));
          RIB_ASSIGN_OR_RETURN(label_of, IndexOf(classes));
          labels.num_model_classes = static_cast<int64_t>(classes.size());
          labels.label_names = classes;
          first = false;
        }
        const std::string subset = absl::StrCat(c, "/", s);
        subsets.push_back(subset);
        RIB_RETURN_IF_ERROR(AddClassFolders(root / c / s, key, folders, label_of, subset,
                                            true, &examples));
      }
    }
    if (first)
      return absl::FailedPreconditionError(
          absl::StrCat(key, ": no corruption folders in ", root.string()));
  } else if (key == "objectnet") {
    const fs::path images = root / "images";
    RIB_ASSIGN_OR_RETURN(auto folders, ListDirs(images, key));
    RIB_ASSIGN_OR_RETURN(
        ObjectNetMapping mapping,
        LoadObjectNetMapping((root / "mappings").string(), options.objectnet_mode));
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
      label_of[f] = static_cast<int64_t>(labels.label_names.size());
      labels.label_names.push_back(f);
      labels.accepted.push_back(it->second);
      used.insert(it->second.begin(), it->second.end());
      mapped.push_back(f);
    }
    if (mapped.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(key, ": no folder in ", images.string(), " maps to ImageNet-1K"));
    }
    labels.class_subset.assign(used.begin(), used.end());
    RIB_RETURN_IF_ERROR(
        AddClassFolders(images, key, mapped, label_of, "", false, &examples));
    border = 2;
  } else {  // imagenet-val, -sketch, -cartoon, -drawing: 1000-way, labels = class index
    RIB_ASSIGN_OR_RETURN(auto folders, ListDirs(root, key));
    RIB_ASSIGN_OR_RETURN(auto classes, ImageNetClasses(options, key, folders));
    RIB_ASSIGN_OR_RETURN(auto label_of, IndexOf(classes));
    labels.num_model_classes = static_cast<int64_t>(classes.size());
    labels.label_names = classes;
    if (folders.empty())
      return absl::FailedPreconditionError(
          absl::StrCat(key, ": no class folders in ", root.string()));
    RIB_RETURN_IF_ERROR(
        AddClassFolders(root, key, folders, label_of, "", false, &examples));
  }
  return std::unique_ptr<DatasetSource>(
      new FolderSource(key, std::move(labels), std::move(examples), std::move(subsets),
                       options.preprocessing, border));
}

}  // namespace rib::data::internal
