#include "worker/data/objectnet.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/json_reader.h"
#include "common/status_macros.h"

namespace rib::data::internal {
namespace {

absl::StatusOr<std::map<std::string, std::string>> StringMap(const JsonValue& v,
                                                             const std::string& file) {
  if (v.type != JsonValue::Type::kObject) {
    return absl::FailedPreconditionError(absl::StrCat(file, " is not a JSON object"));
  }
  std::map<std::string, std::string> out;
  for (const auto& [k, val] : v.object) {
    if (val.type != JsonValue::Type::kString) {
      return absl::FailedPreconditionError(
          absl::StrCat(file, ": value of '", k, "' is not a string"));
    }
    out[k] = val.text;
  }
  return out;
}

// The standard protocol: ImageNet label string → torchvision index.
absl::StatusOr<std::unordered_map<std::string, int64_t>> LabelToIndex(
    const std::string& dir) {
  const std::string lines_file = dir + "/imagenet_to_label_2012_v2";
  std::ifstream in(lines_file);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("ObjectNet mapping file not found: ", lines_file));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  RIB_ASSIGN_OR_RETURN(JsonValue ids,
                       ReadJsonFile(dir + "/pytorch_to_imagenet_2012_id.json"));
  std::unordered_map<std::string, int64_t> out;
  for (const auto& [k, v] : ids.object) {
    // Range-checked as a double first: casting an out-of-range double is undefined.
    if (v.type != JsonValue::Type::kNumber || !(v.number >= 0) ||
        v.number >= static_cast<double>(lines.size())) {
      return absl::FailedPreconditionError(
          absl::StrCat("pytorch_to_imagenet_2012_id.json: entry ", k,
                       " points outside imagenet_to_label_2012_v2"));
    }
    // A label string used twice ("crane") is ambiguous; keep the first and let a lookup
    // of it fail loudly below.
    const size_t line = static_cast<size_t>(v.number);
    auto [it, inserted] = out.emplace(lines[line], std::atoll(k.c_str()));
    if (!inserted) it->second = -1;
  }
  return out;
}

}  // namespace

absl::StatusOr<ObjectNetMapping> LoadObjectNetMapping(const std::string& dir,
                                                      const std::string& mode) {
  if (mode != "standard" && mode != "reference") {
    return absl::InvalidArgumentError(absl::StrCat(
        "objectnet_mode must be 'standard' or 'reference', got '", mode, "'"));
  }
  RIB_ASSIGN_OR_RETURN(JsonValue folders_json,
                       ReadJsonFile(dir + "/folder_to_objectnet_label.json"));
  RIB_ASSIGN_OR_RETURN(JsonValue to_in_json,
                       ReadJsonFile(dir + "/objectnet_to_imagenet_1k.json"));
  RIB_ASSIGN_OR_RETURN(auto to_imagenet,
                       StringMap(to_in_json, "objectnet_to_imagenet_1k.json"));
  if (folders_json.type != JsonValue::Type::kObject) {
    return absl::FailedPreconditionError(
        "folder_to_objectnet_label.json is not a JSON object");
  }
  ObjectNetMapping m;
  for (const auto& [folder, label] : folders_json.object) m.known_folders.insert(folder);

  if (mode == "standard") {
    RIB_ASSIGN_OR_RETURN(auto index, LabelToIndex(dir));
    for (const auto& [folder, label] : folders_json.object) {
      auto it = to_imagenet.find(label.text);
      if (it == to_imagenet.end()) continue;  // not one of the 113 overlapping classes
      std::vector<int64_t> classes;
      for (absl::string_view name : absl::StrSplit(it->second, "; ")) {
        auto found = index.find(std::string(name));
        if (found == index.end() || found->second < 0) {
          return absl::FailedPreconditionError(absl::StrCat(
              "ObjectNet folder '", folder, "' (label '", label.text,
              "') maps to ImageNet label '", name,
              "', which imagenet_to_label_2012_v2 does not list exactly once"));
        }
        classes.push_back(found->second);
      }
      std::sort(classes.begin(), classes.end());
      m.folder_classes[folder] = classes;
    }
    return m;
  }

  // "reference": the FieteLab loop, stale class_id included.
  std::string names_file = dir + "/imagenet_class.json";
  if (!std::filesystem::exists(names_file))
    names_file = dir + "/imagenet_class_clip_names.json";
  auto names_json = ReadJsonFile(names_file);
  if (!names_json.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("objectnet_mode 'reference' needs the ImageNet simple-labels list "
                     "the reference code "
                     "reads (imagenet_class.json) in ",
                     dir, ": ", names_json.status().message()));
  }
  std::unordered_map<std::string, int64_t> name_to_class;
  for (size_t i = 0; i < names_json->array.size(); ++i) {
    name_to_class.emplace(names_json->array[i].text, static_cast<int64_t>(i));
  }
  const std::map<std::string, std::string> manual = {
      {"Band Aid", "Band-Aid"},
      {"Coffee/French press", "espresso machine"},
      {"Dress shoe (men)", "slip-on shoe"},
      {"Bottle cap", "bottle cap"},
      {"Match", "match"},
      {"Bread loaf", "baguette"}};
  int64_t class_id = -1;  // deliberately carried over between folders, as the original
  for (const auto& [folder, label_value] : folders_json.object) {
    const std::string& label = label_value.text;
    auto it = to_imagenet.find(label);
    if (it == to_imagenet.end()) continue;
    const std::string& imagenet_label = it->second;
    auto try_split = [&](absl::string_view sep) {
      for (absl::string_view part : absl::StrSplit(imagenet_label, sep)) {
        auto f = name_to_class.find(std::string(part));
        if (f != name_to_class.end()) {
          class_id = f->second;
          return;
        }
      }
    };
    if (imagenet_label.find(',') != std::string::npos) {
      try_split(", ");
    } else if (imagenet_label.find(';') != std::string::npos) {
      try_split("; ");
    } else if (name_to_class.count(imagenet_label)) {
      class_id = name_to_class.at(imagenet_label);
    } else {
      auto conv = manual.find(label);
      if (conv == manual.end() || !name_to_class.count(conv->second)) {
        return absl::FailedPreconditionError(
            absl::StrCat("reference ObjectNet mapping: no class for folder '", folder,
                         "' (label '", label, "')"));
      }
      class_id = name_to_class.at(conv->second);
    }
    if (class_id < 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "reference ObjectNet mapping: no class for folder '", folder, "'"));
    }
    m.folder_classes[folder] = {class_id};
  }
  return m;
}

}  // namespace rib::data::internal
