#include "spec/hf_hub.h"

#include <unistd.h>

#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/json_reader.h"
#include "common/paths.h"
#include "common/status_macros.h"
#include "spec/artifacts.h"
#include "spec/preprocessing.h"

namespace rib::spec {
namespace {

// A config.json or a ref file larger than this is not one (timm's are ~1 KiB).
constexpr uint64_t kMaxSmallFile = 1 << 20;

bool IsCommitHash(absl::string_view s) {
  if (s.size() != 40) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

// The whole of a small file opened confined to `root`.
absl::StatusOr<std::string> ReadSmallFile(const std::string& root, const std::string& rel,
                                          absl::string_view what) {
  RIB_ASSIGN_OR_RETURN(InputFile file, OpenUnder(root, rel, what));
  if (file.size() > kMaxSmallFile) {
    return absl::InvalidArgumentError(absl::StrCat(what, " '", file.path(), "' is ",
                                                   file.size(), " bytes, more than ",
                                                   kMaxSmallFile, " for a text file"));
  }
  std::string text(file.size(), '\0');
  if (::pread(file.fd(), text.data(), text.size(), 0) !=
      static_cast<ssize_t>(text.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", file.path(), "' cannot be read"));
  }
  return text;
}

absl::Status ConfigError(absl::string_view source, absl::string_view key,
                         absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", key, ": ", message));
}

absl::StatusOr<double> Number(const JsonValue& v, absl::string_view source,
                              absl::string_view key) {
  if (v.type != JsonValue::Type::kNumber || !std::isfinite(v.number)) {
    return ConfigError(source, key,
                       absl::StrCat("expected a number, got ", JsonTypeName(v.type)));
  }
  return v.number;
}

absl::StatusOr<int> Integer(const JsonValue& v, absl::string_view source,
                            absl::string_view key, int min, int max) {
  RIB_ASSIGN_OR_RETURN(double d, Number(v, source, key));
  if (d != std::floor(d) || d < min || d > max) {
    return ConfigError(source, key,
                       absl::StrCat("expected an integer in [", min, ", ", max, "], got ",
                                    v.text));
  }
  return static_cast<int>(d);
}

absl::StatusOr<std::vector<double>> Rgb(const JsonValue& v, absl::string_view source,
                                        absl::string_view key, bool positive) {
  if (v.type != JsonValue::Type::kArray || v.array.size() != 3) {
    return ConfigError(source, key, "expected 3 numbers (R, G, B)");
  }
  std::vector<double> out;
  for (const JsonValue& item : v.array) {
    RIB_ASSIGN_OR_RETURN(double d, Number(item, source, key));
    if (positive && !(d > 0)) return ConfigError(source, key, "must be > 0");
    out.push_back(d);
  }
  return out;
}

// input_size [3, H, W] with H == W (rib centre-crops squares).
absl::StatusOr<int> ImageSize(const JsonValue& v, absl::string_view source,
                              absl::string_view key) {
  if (v.type != JsonValue::Type::kArray || v.array.size() != 3) {
    return ConfigError(source, key, "expected [channels, height, width]");
  }
  RIB_ASSIGN_OR_RETURN(int c, Integer(v.array[0], source, key, 1, 4));
  RIB_ASSIGN_OR_RETURN(int h, Integer(v.array[1], source, key, 8, 4096));
  RIB_ASSIGN_OR_RETURN(int w, Integer(v.array[2], source, key, 8, 4096));
  if (c != 3) return ConfigError(source, key, "rib decodes images as RGB: channels must be 3");
  if (h != w) {
    return ConfigError(source, key,
                       absl::StrCat(h, "x", w, " is not square (rib crops squares)"));
  }
  return h;
}

absl::StatusOr<double> CropPct(const JsonValue& v, absl::string_view source,
                               absl::string_view key) {
  RIB_ASSIGN_OR_RETURN(double d, Number(v, source, key));
  if (!(d > 0 && d <= 1)) {
    return ConfigError(source, key, absl::StrCat("must be in (0, 1], got ", v.text));
  }
  return d;
}

}  // namespace

std::string DefaultHubCacheDir(const char* hf_home, const char* home) {
  if (hf_home != nullptr && *hf_home != '\0') return absl::StrCat(hf_home, "/hub");
  if (home != nullptr && *home != '\0') return absl::StrCat(home, "/.cache/huggingface/hub");
  return "";
}

bool IsHubWeights(absl::string_view weights) {
  return absl::StartsWith(weights, kHfHubScheme);
}

absl::StatusOr<HubReference> ParseHubReference(absl::string_view weights) {
  absl::string_view rest = weights;
  if (!absl::ConsumePrefix(&rest, kHfHubScheme)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", weights, "' does not start with ", kHfHubScheme));
  }
  const std::string expected = absl::StrCat(
      " (expected ", kHfHubScheme, "<org>/<name>[@<revision>], e.g. ", kHfHubScheme,
      "timm/vit_base_patch16_224.augreg_in21k_ft_in1k)");
  HubReference ref;
  ref.revision = "main";
  const size_t at = rest.find('@');
  if (at != absl::string_view::npos) {
    ref.revision = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (absl::Status s = ValidateName(ref.revision, "revision"); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("'", weights, "': ", s.message()));
    }
  }
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", weights, "' names no organisation", expected));
  }
  ref.org = std::string(rest.substr(0, slash));
  ref.name = std::string(rest.substr(slash + 1));
  for (const auto& [value, what] : {std::pair<const std::string&, const char*>(
                                        ref.org, "organisation"),
                                    {ref.name, "model name"}}) {
    if (absl::Status s = ValidateName(value, what); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", weights, "': ", s.message(), expected));
    }
  }
  return ref;
}

void PartialPreprocessing::ApplyTo(Preprocessing* p) const {
  if (image_size) p->image_size = *image_size;
  if (crop_pct) p->crop_pct = *crop_pct;
  if (mean) p->mean = *mean;
  if (std) p->std = *std;
  if (interpolation) p->interpolation = *interpolation;
}

absl::StatusOr<HubConfig> ParseHubConfig(absl::string_view json,
                                         absl::string_view source) {
  absl::StatusOr<JsonValue> root = ParseJson(json);
  if (!root.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", root.status().message()));
  }
  if (root->type != JsonValue::Type::kObject) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": expected an object, got ", JsonTypeName(root->type)));
  }
  HubConfig config;
  if (const JsonValue* v = root->Get("architecture")) {
    if (v->type != JsonValue::Type::kString) {
      return ConfigError(source, "architecture",
                         absl::StrCat("expected a string, got ", JsonTypeName(v->type)));
    }
    if (absl::Status s = ValidateName(v->text, "architecture"); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
    }
    config.architecture = v->text;
  }
  if (const JsonValue* v = root->Get("num_classes")) {
    RIB_ASSIGN_OR_RETURN(config.num_classes,
                         Integer(*v, source, "num_classes", 2, 1000000));
  }
  const JsonValue* cfg = root->Get("pretrained_cfg");
  if (cfg == nullptr) return config;
  if (cfg->type != JsonValue::Type::kObject) {
    return ConfigError(source, "pretrained_cfg",
                       absl::StrCat("expected an object, got ", JsonTypeName(cfg->type)));
  }
  PartialPreprocessing& p = config.preprocessing;
  // Evaluation uses the test size where timm gives one (timm's validate.py does).
  for (const char* key : {"input_size", "test_input_size"}) {
    if (const JsonValue* v = cfg->Get(key)) {
      RIB_ASSIGN_OR_RETURN(p.image_size,
                           ImageSize(*v, source, absl::StrCat("pretrained_cfg.", key)));
    }
  }
  for (const char* key : {"crop_pct", "test_crop_pct"}) {
    if (const JsonValue* v = cfg->Get(key)) {
      RIB_ASSIGN_OR_RETURN(p.crop_pct,
                           CropPct(*v, source, absl::StrCat("pretrained_cfg.", key)));
    }
  }
  if (const JsonValue* v = cfg->Get("interpolation")) {
    if (v->type != JsonValue::Type::kString ||
        (v->text != "bicubic" && v->text != "bilinear")) {
      return ConfigError(source, "pretrained_cfg.interpolation",
                         absl::StrCat("expected \"bicubic\" or \"bilinear\", got ",
                                      v->type == JsonValue::Type::kString
                                          ? absl::StrCat("\"", v->text, "\"")
                                          : JsonTypeName(v->type)));
    }
    p.interpolation = v->text;
  }
  if (const JsonValue* v = cfg->Get("crop_mode")) {
    if (v->type != JsonValue::Type::kString || v->text != "center") {
      return ConfigError(source, "pretrained_cfg.crop_mode",
                         "only \"center\" is implemented (resize the shorter side, "
                         "centre-crop)");
    }
  }
  if (const JsonValue* v = cfg->Get("mean")) {
    RIB_ASSIGN_OR_RETURN(p.mean, Rgb(*v, source, "pretrained_cfg.mean", false));
  }
  if (const JsonValue* v = cfg->Get("std")) {
    RIB_ASSIGN_OR_RETURN(p.std, Rgb(*v, source, "pretrained_cfg.std", true));
  }
  return config;
}

std::string HubSnapshotDir(const HubReference& ref, absl::string_view commit) {
  return absl::StrCat("models--", ref.org, "--", ref.name, "/snapshots/", commit);
}

absl::StatusOr<HubSnapshot> ResolveHubSnapshot(const std::string& cache_dir,
                                               const HubReference& ref) {
  if (cache_dir.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        kHfHubScheme, ref.RepoId(), ": no hub cache is configured (rib-coordinator "
        "--hf-cache, or $HF_HOME / $HOME for its default)"));
  }
  const std::string repo_dir = absl::StrCat("models--", ref.org, "--", ref.name);
  const std::string where = absl::StrCat(cache_dir, "/", repo_dir);
  const std::string never = absl::StrCat(
      " (rib never downloads: fetch it with `huggingface-cli download ", ref.RepoId(),
      "` into that cache, or point the coordinator's --hf-cache at the cache that has it)");
  // A missing file is a mistake in the sweep or the cache: INVALID_ARGUMENT.
  auto missing = [&](const absl::Status& s, absl::string_view what) -> absl::Status {
    if (!absl::IsNotFound(s)) return s;
    return absl::InvalidArgumentError(absl::StrCat(kHfHubScheme, ref.RepoId(), ": ", what,
                                                   " not found in the hub cache: ",
                                                   s.message(), never));
  };
  HubSnapshot snapshot;
  if (IsCommitHash(ref.revision)) {
    snapshot.commit = ref.revision;
  } else {
    const std::string ref_file = absl::StrCat(repo_dir, "/refs/", ref.revision);
    absl::StatusOr<std::string> text = ReadSmallFile(cache_dir, ref_file, "ref");
    if (!text.ok()) {
      // Tell a missing model from a missing revision: OpenUnder says NOT_FOUND for a
      // missing path, something else for the model's folder (not a regular file).
      const bool model_exists =
          !absl::IsNotFound(OpenUnder(cache_dir, repo_dir, "model folder").status());
      return missing(text.status(),
                     model_exists ? absl::StrCat("revision '", ref.revision, "'")
                                  : std::string("model"));
    }
    snapshot.commit = std::string(absl::StripAsciiWhitespace(*text));
    if (!IsCommitHash(snapshot.commit)) {
      return absl::InvalidArgumentError(absl::StrCat(
          kHfHubScheme, ref.RepoId(), ": ", where, "/refs/", ref.revision,
          " does not hold a 40-hex commit hash"));
    }
  }
  const std::string dir = HubSnapshotDir(ref, snapshot.commit);
  snapshot.weights_path = dir + "/model.safetensors";
  {
    absl::StatusOr<InputFile> weights =
        OpenUnder(cache_dir, snapshot.weights_path, "snapshot weights");
    if (!weights.ok()) {
      return missing(weights.status(),
                     absl::StrCat("model.safetensors of snapshot ", snapshot.commit));
    }
  }
  const std::string config_path = dir + "/config.json";
  absl::StatusOr<std::string> config = ReadSmallFile(cache_dir, config_path, "config.json");
  if (absl::IsNotFound(config.status())) return snapshot;  // weights alone: fine
  if (!config.ok()) return config.status();
  snapshot.has_config = true;
  RIB_ASSIGN_OR_RETURN(snapshot.config,
                       ParseHubConfig(*config, absl::StrCat(cache_dir, "/", config_path)));
  return snapshot;
}

absl::Status ApplyHubSnapshot(const HubReference& ref, const HubSnapshot& snapshot,
                              const ModelOverrides& overrides, int default_num_classes,
                              ModelSpec* model) {
  std::string arch;
  if (overrides.arch) {
    arch = *overrides.arch;
  } else if (snapshot.config.architecture) {
    arch = *snapshot.config.architecture;
    // config.json names the bare arch; the repository name carries timm's tag, which
    // picks the published weights' row (spec/preprocessing.h).
    if (absl::StartsWith(ref.name, arch + ".")) arch = ref.name;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", model->name, "': ", kHfHubScheme, ref.RepoId(), "@", snapshot.commit,
        snapshot.has_config ? " has a config.json without \"architecture\""
                            : " has no config.json",
        "; give the model an arch in the sweep file"));
  }
  model->arch = arch;
  model->weights = HubMirrorPath(snapshot.weights_path);
  model->num_classes = overrides.num_classes       ? *overrides.num_classes
                       : snapshot.config.num_classes ? *snapshot.config.num_classes
                                                     : default_num_classes;
  model->preprocessing = DefaultPreprocessing(arch);
  snapshot.config.preprocessing.ApplyTo(&model->preprocessing);
  overrides.preprocessing.ApplyTo(&model->preprocessing);
  return absl::OkStatus();
}

}  // namespace rib::spec
