// ParseSweepYaml: yaml-cpp nodes → SweepSpec. Every error is INVALID_ARGUMENT
// "<source>:<line>: <field path>: <what is wrong>"; the format is in sweep.h.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/paths.h"
#include "common/status_macros.h"
#include "spec/sweep.h"
#include "yaml-cpp/yaml.h"

namespace rib::spec {
namespace {

constexpr int64_t kNoMax = std::numeric_limits<int64_t>::max();

std::string Join(const std::vector<std::string>& items) {
  return absl::StrJoin(items, ", ");
}

std::string Describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "nothing (null)";
    case YAML::NodeType::Scalar:
      return absl::StrCat("'", n.Scalar(), "'");
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::string Field(const std::string& prefix, absl::string_view key) {
  return prefix.empty() ? std::string(key) : absl::StrCat(prefix, ".", key);
}
std::string Index(const std::string& prefix, size_t i) {
  return absl::StrCat(prefix, "[", i, "]");
}

// Reads one document. Holds the source name and a fallback line (the enclosing map's)
// for fields that are missing and so have no position of their own.
class SweepParser {
 public:
  explicit SweepParser(absl::string_view source) : source_(source) {}

  absl::StatusOr<SweepSpec> Parse(const YAML::Node& root);

 private:
  int Line(const YAML::Node& n) const {
    if (!n.IsDefined() || n.Mark().is_null()) return 1;
    return n.Mark().line + 1;
  }
  absl::Status Error(const YAML::Node& at, absl::string_view field,
                     absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ":", Line(at), ": ", field, ": ", message));
  }
  // Locates a status whose message already names the field (ValidateName, params).
  absl::Status Locate(const YAML::Node& at, const absl::Status& status) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ":", Line(at), ": ", status.message()));
  }

  // `node` must be a map with unique keys, each one of `allowed`.
  absl::Status CheckMap(const YAML::Node& node, const std::string& path,
                        const std::vector<std::string>& allowed) const {
    if (!node.IsMap()) {
      return Error(node, path.empty() ? "sweep" : path,
                   absl::StrCat("expected a map, got ", Describe(node)));
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        return Error(it->first, path.empty() ? "sweep" : path,
                     "keys must be plain words");
      }
      const std::string key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        return Error(it->first, Field(path, key),
                     absl::StrCat("unknown key (expected one of ", Join(allowed), ")"));
      }
      if (!seen.insert(key).second) {
        return Error(it->first, Field(path, key), "duplicate key");
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Str(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) {
      return Error(n, path, absl::StrCat("expected a string, got ", Describe(n)));
    }
    return n.Scalar();
  }
  absl::StatusOr<int64_t> Int(const YAML::Node& n, const std::string& path, int64_t min,
                              int64_t max) const {
    int64_t v = 0;
    if (!n.IsScalar() || !absl::SimpleAtoi(n.Scalar(), &v)) {
      return Error(n, path, absl::StrCat("expected an integer, got ", Describe(n)));
    }
    if (v < min || v > max) {
      return Error(n, path,
                   max == kNoMax
                       ? absl::StrCat("must be >= ", min, ", got ", v)
                       : absl::StrCat("must be in [", min, ", ", max, "], got ", v));
    }
    return v;
  }
  absl::StatusOr<double> Real(const YAML::Node& n, const std::string& path) const {
    double v = 0;
    if (!n.IsScalar() || !absl::SimpleAtod(n.Scalar(), &v) || !std::isfinite(v)) {
      return Error(n, path, absl::StrCat("expected a number, got ", Describe(n)));
    }
    return v;
  }
  absl::StatusOr<bool> Bool(const YAML::Node& n, const std::string& path) const {
    const std::string s = n.IsScalar() ? absl::AsciiStrToLower(n.Scalar()) : "";
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
    return Error(n, path, absl::StrCat("expected true or false, got ", Describe(n)));
  }
  absl::StatusOr<std::string> OneOf(const YAML::Node& n, const std::string& path,
                                    const std::vector<std::string>& allowed) const {
    RIB_ASSIGN_OR_RETURN(std::string v, Str(n, path));
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      return Error(
          n, path,
          absl::StrCat("unknown value '", v, "' (expected one of ", Join(allowed), ")"));
    }
    return v;
  }
  // A non-empty list of distinct strings; `nodes` receives each item's node.
  absl::StatusOr<std::vector<std::string>> StrList(const YAML::Node& n,
                                                   const std::string& path,
                                                   std::vector<YAML::Node>* nodes) const {
    if (!n.IsSequence()) {
      return Error(n, path, absl::StrCat("expected a list, got ", Describe(n)));
    }
    if (n.size() == 0) return Error(n, path, "empty list");
    std::vector<std::string> out;
    for (size_t i = 0; i < n.size(); ++i) {
      RIB_ASSIGN_OR_RETURN(std::string v, Str(n[i], Index(path, i)));
      if (std::find(out.begin(), out.end(), v) != out.end()) {
        return Error(n[i], Index(path, i), absl::StrCat("'", v, "' is listed twice"));
      }
      out.push_back(std::move(v));
      if (nodes != nullptr) nodes->push_back(n[i]);
    }
    return out;
  }
  absl::StatusOr<std::vector<double>> RealList(const YAML::Node& n,
                                               const std::string& path) const {
    if (!n.IsSequence()) {
      return Error(n, path,
                   absl::StrCat("expected a list of numbers, got ", Describe(n)));
    }
    if (n.size() != 3) {  // images are decoded as RGB (worker/data)
      return Error(n, path, absl::StrCat("expected 3 numbers (R, G, B), got ", n.size()));
    }
    std::vector<double> out;
    for (size_t i = 0; i < n.size(); ++i) {
      RIB_ASSIGN_OR_RETURN(double v, Real(n[i], Index(path, i)));
      out.push_back(v);
    }
    return out;
  }

  absl::Status ParseTraining(const YAML::Node& n, TrainingConfig* t) const;
  // `overrides` receives what the file set itself when the weights name a hub model;
  // `*hub` says whether they do.
  absl::Status ParseModel(const YAML::Node& n, const std::string& path,
                          const std::string& suite, ModelSpec* m, bool* hub,
                          ModelOverrides* overrides) const;
  absl::Status ParsePreprocessing(const YAML::Node& n, const std::string& path,
                                  PartialPreprocessing* p) const;
  absl::Status ParseMethods(const YAML::Node& n, SweepSpec* sweep) const;
  absl::Status ParseDatasets(const YAML::Node& n, const std::string& path,
                             const std::string& suite,
                             const std::vector<std::string>& allowed,
                             std::vector<std::string>* out) const;

  // seeds: [0, 1, 2]: distinct seeds >= 0, at most kMaxSeeds; not with training.seed
  // (each seed is the jobs' training.seed).
  absl::Status ParseSeeds(const YAML::Node& n, const YAML::Node& training,
                          std::vector<int64_t>* seeds) const {
    if (!n.IsSequence()) {
      return Error(n, "seeds", absl::StrCat("expected a list, got ", Describe(n)));
    }
    if (n.size() == 0) return Error(n, "seeds", "empty list (leave it out for one run)");
    if (n.size() > static_cast<size_t>(kMaxSeeds)) {
      return Error(n, "seeds", absl::StrCat("at most ", kMaxSeeds, " seeds, got ", n.size()));
    }
    if (training && training.IsMap() && training["seed"]) {
      return Error(training["seed"], "training.seed",
                   "give either training.seed or seeds, not both (each of seeds is the "
                   "jobs' training.seed)");
    }
    for (size_t i = 0; i < n.size(); ++i) {
      RIB_ASSIGN_OR_RETURN(int64_t seed, Int(n[i], Index("seeds", i), 0, kNoMax));
      if (std::find(seeds->begin(), seeds->end(), seed) != seeds->end()) {
        return Error(n[i], Index("seeds", i), absl::StrCat("seed ", seed, " is listed twice"));
      }
      seeds->push_back(seed);
    }
    return absl::OkStatus();
  }

  std::string source_;
};

absl::StatusOr<SweepSpec> SweepParser::Parse(const YAML::Node& root) {
  if (!root.IsDefined() || root.IsNull()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ":1: sweep: the file is empty"));
  }
  RIB_RETURN_IF_ERROR(CheckMap(
      root, "",
      {"name", "suite", "priority", "max_attempts", "devices", "device_kind", "split",
       "test_fraction", "objectnet_mode", "seeds",
       "models", "methods", "finetune_datasets", "eval_datasets", "training"}));
  SweepSpec sweep;
  const YAML::Node name = root["name"];
  if (!name) return Error(root, "name", "missing (every sweep has a name)");
  RIB_ASSIGN_OR_RETURN(sweep.name, Str(name, "name"));
  if (absl::Status s = ValidateName(sweep.name, "name"); !s.ok()) return Locate(name, s);

  if (const YAML::Node n = root["suite"]) {
    RIB_ASSIGN_OR_RETURN(sweep.suite, OneOf(n, "suite", KnownSuites()));
  }
  if (const YAML::Node n = root["priority"]) {
    RIB_ASSIGN_OR_RETURN(sweep.priority, Int(n, "priority", -kPriorityLimit, kPriorityLimit));
  }
  if (const YAML::Node n = root["max_attempts"]) {
    RIB_ASSIGN_OR_RETURN(sweep.max_attempts, Int(n, "max_attempts", 1, 100));
  }
  if (const YAML::Node n = root["devices"]) {
    RIB_ASSIGN_OR_RETURN(sweep.devices, Int(n, "devices", 1, 64));
  }
  if (const YAML::Node n = root["device_kind"]) {
    RIB_ASSIGN_OR_RETURN(sweep.device_kind, OneOf(n, "device_kind", {"any", "cpu", "cuda"}));
    if (sweep.device_kind == "any") sweep.device_kind.clear();
  }
  if (const YAML::Node n = root["split"]) {
    RIB_ASSIGN_OR_RETURN(sweep.split, OneOf(n, "split", {"heldout", "reference"}));
  }
  if (const YAML::Node n = root["test_fraction"]) {
    RIB_ASSIGN_OR_RETURN(sweep.test_fraction, Real(n, "test_fraction"));
    if (!(sweep.test_fraction > 0 && sweep.test_fraction < 1)) {
      return Error(n, "test_fraction",
                   absl::StrCat("must be in (0, 1), got ", n.Scalar()));
    }
  }
  if (const YAML::Node n = root["objectnet_mode"]) {
    RIB_ASSIGN_OR_RETURN(sweep.objectnet_mode,
                         OneOf(n, "objectnet_mode", {"standard", "reference"}));
  }
  if (const YAML::Node n = root["training"]) {
    RIB_RETURN_IF_ERROR(ParseTraining(n, &sweep.training));
  }
  if (const YAML::Node n = root["seeds"]) {
    RIB_RETURN_IF_ERROR(ParseSeeds(n, root["training"], &sweep.seeds));
  }

  const YAML::Node models = root["models"];
  if (!models) return Error(root, "models", "missing (a sweep needs at least one model)");
  if (!models.IsSequence()) {
    return Error(models, "models",
                 absl::StrCat("expected a list, got ", Describe(models)));
  }
  if (models.size() == 0) return Error(models, "models", "empty list");
  std::map<std::string, size_t> model_index;
  for (size_t i = 0; i < models.size(); ++i) {
    const std::string path = Index("models", i);
    ModelSpec m;
    bool hub = false;
    ModelOverrides overrides;
    RIB_RETURN_IF_ERROR(ParseModel(models[i], path, sweep.suite, &m, &hub, &overrides));
    auto [it, inserted] = model_index.emplace(m.name, i);
    if (!inserted) {
      return Error(models[i]["name"], Field(path, "name"),
                   absl::StrCat("duplicate model name '", m.name, "' (also models[",
                                it->second, "])"));
    }
    if (hub) sweep.hub_models[m.name] = std::move(overrides);
    sweep.models.push_back(std::move(m));
  }

  const YAML::Node methods = root["methods"];
  if (!methods)
    return Error(root, "methods", "missing (a sweep needs at least one method)");
  RIB_RETURN_IF_ERROR(ParseMethods(methods, &sweep));

  std::vector<std::string> downstream = SuiteDownstreamDatasets(sweep.suite);
  sweep.finetune_datasets = downstream;
  if (const YAML::Node n = root["finetune_datasets"]) {
    RIB_RETURN_IF_ERROR(ParseDatasets(n, "finetune_datasets", sweep.suite, downstream,
                                      &sweep.finetune_datasets));
  }
  std::vector<std::string> evals = SuiteEvalDatasets(sweep.suite);
  sweep.eval_datasets = evals;
  if (const YAML::Node n = root["eval_datasets"]) {
    RIB_RETURN_IF_ERROR(
        ParseDatasets(n, "eval_datasets", sweep.suite, evals, &sweep.eval_datasets));
  }
  return sweep;
}

absl::Status SweepParser::ParseTraining(const YAML::Node& n, TrainingConfig* t) const {
  RIB_RETURN_IF_ERROR(
      CheckMap(n, "training",
               {"optimizer", "lr", "momentum", "weight_decay", "batch_size", "epochs",
                "warmup_steps", "schedule", "precision", "seed", "skip_corrupt",
                "max_steps", "eval_batch_size"}));
  if (const YAML::Node v = n["optimizer"]) {
    RIB_ASSIGN_OR_RETURN(t->optimizer, OneOf(v, "training.optimizer", {"sgd", "adamw"}));
  }
  if (const YAML::Node v = n["lr"]) {
    RIB_ASSIGN_OR_RETURN(t->lr, Real(v, "training.lr"));
    if (!(t->lr > 0))
      return Error(v, "training.lr", absl::StrCat("must be > 0, got ", v.Scalar()));
  }
  if (const YAML::Node v = n["momentum"]) {
    RIB_ASSIGN_OR_RETURN(t->momentum, Real(v, "training.momentum"));
    if (!(t->momentum >= 0 && t->momentum < 1)) {
      return Error(v, "training.momentum",
                   absl::StrCat("must be in [0, 1), got ", v.Scalar()));
    }
  }
  if (const YAML::Node v = n["weight_decay"]) {
    RIB_ASSIGN_OR_RETURN(t->weight_decay, Real(v, "training.weight_decay"));
    if (!(t->weight_decay >= 0)) {
      return Error(v, "training.weight_decay",
                   absl::StrCat("must be >= 0, got ", v.Scalar()));
    }
  }
  if (const YAML::Node v = n["batch_size"]) {
    RIB_ASSIGN_OR_RETURN(t->batch_size, Int(v, "training.batch_size", 1, 1 << 20));
  }
  if (const YAML::Node v = n["epochs"]) {
    RIB_ASSIGN_OR_RETURN(t->epochs, Int(v, "training.epochs", 1, 100000));
  }
  if (const YAML::Node v = n["warmup_steps"]) {
    RIB_ASSIGN_OR_RETURN(t->warmup_steps, Int(v, "training.warmup_steps", 0, 1 << 30));
  }
  if (const YAML::Node v = n["schedule"]) {
    RIB_ASSIGN_OR_RETURN(t->schedule, OneOf(v, "training.schedule", {"cosine"}));
  }
  if (const YAML::Node v = n["precision"]) {
    RIB_ASSIGN_OR_RETURN(
        t->precision, OneOf(v, "training.precision", {"auto", "fp32", "fp16", "bf16"}));
  }
  if (const YAML::Node v = n["seed"]) {
    RIB_ASSIGN_OR_RETURN(t->seed, Int(v, "training.seed", 0, kNoMax));
  }
  if (const YAML::Node v = n["skip_corrupt"]) {
    RIB_ASSIGN_OR_RETURN(t->skip_corrupt, Bool(v, "training.skip_corrupt"));
  }
  if (const YAML::Node v = n["max_steps"]) {
    RIB_ASSIGN_OR_RETURN(t->max_steps, Int(v, "training.max_steps", 0, 1 << 30));
  }
  if (const YAML::Node v = n["eval_batch_size"]) {
    RIB_ASSIGN_OR_RETURN(t->eval_batch_size,
                         Int(v, "training.eval_batch_size", 1, 1 << 20));
  }
  return absl::OkStatus();
}

absl::Status SweepParser::ParseModel(const YAML::Node& n, const std::string& path,
                                     const std::string& suite, ModelSpec* m, bool* hub,
                                     ModelOverrides* overrides) const {
  RIB_RETURN_IF_ERROR(
      CheckMap(n, path, {"name", "arch", "weights", "num_classes", "preprocessing"}));
  for (const char* required : {"name", "weights"}) {
    if (!n[required]) return Error(n, Field(path, required), "missing");
  }
  RIB_ASSIGN_OR_RETURN(m->name, Str(n["name"], Field(path, "name")));
  if (absl::Status s = ValidateName(m->name, Field(path, "name")); !s.ok()) {
    return Locate(n["name"], s);
  }
  const YAML::Node weights = n["weights"];
  const std::string weights_path = Field(path, "weights");
  RIB_ASSIGN_OR_RETURN(m->weights, Str(weights, weights_path));
  if (m->weights.empty()) return Error(weights, weights_path, "empty path");
  *hub = IsHubWeights(m->weights);
  if (*hub) {
    if (absl::StatusOr<HubReference> ref = ParseHubReference(m->weights); !ref.ok()) {
      return Error(weights, weights_path, ref.status().message());
    }
  } else {
    for (absl::string_view part : absl::StrSplit(m->weights, absl::ByAnyChar("/\\"))) {
      if (part == "..") {
        return Error(weights, weights_path,
                     absl::StrCat("'", m->weights,
                                  "' has a '..' component (weights stay "
                                  "under the artifact root)"));
      }
    }
    if (m->weights.find('\0') != std::string::npos) {
      return Error(weights, weights_path, "path contains a NUL byte");
    }
  }
  if (const YAML::Node v = n["arch"]) {
    RIB_ASSIGN_OR_RETURN(m->arch, Str(v, Field(path, "arch")));
    if (absl::Status s = ValidateName(m->arch, Field(path, "arch")); !s.ok()) {
      return Locate(v, s);
    }
    if (*hub) overrides->arch = m->arch;
  } else if (!*hub) {
    return Error(n, Field(path, "arch"),
                 absl::StrCat("missing (only weights from ", kHfHubScheme,
                              " bring their own)"));
  }
  m->num_classes = SuiteDefaultNumClasses(suite);
  if (const YAML::Node v = n["num_classes"]) {
    RIB_ASSIGN_OR_RETURN(m->num_classes, Int(v, Field(path, "num_classes"), 2, 1000000));
    if (*hub) overrides->num_classes = m->num_classes;
  }
  PartialPreprocessing set;
  if (const YAML::Node v = n["preprocessing"]) {
    RIB_RETURN_IF_ERROR(ParsePreprocessing(v, Field(path, "preprocessing"), &set));
  }
  if (*hub) {
    overrides->preprocessing = std::move(set);  // applied over config.json's at submit
  } else {
    m->preprocessing = DefaultPreprocessing(m->arch);
    set.ApplyTo(&m->preprocessing);
  }
  return absl::OkStatus();
}

absl::Status SweepParser::ParsePreprocessing(const YAML::Node& n, const std::string& path,
                                             PartialPreprocessing* p) const {
  RIB_RETURN_IF_ERROR(
      CheckMap(n, path, {"image_size", "crop_pct", "mean", "std", "interpolation"}));
  if (const YAML::Node v = n["image_size"]) {
    RIB_ASSIGN_OR_RETURN(p->image_size, Int(v, Field(path, "image_size"), 8, 4096));
  }
  if (const YAML::Node v = n["crop_pct"]) {
    RIB_ASSIGN_OR_RETURN(p->crop_pct, Real(v, Field(path, "crop_pct")));
    if (!(*p->crop_pct > 0 && *p->crop_pct <= 1)) {
      return Error(v, Field(path, "crop_pct"),
                   absl::StrCat("must be in (0, 1], got ", v.Scalar()));
    }
  }
  if (const YAML::Node v = n["mean"]) {
    RIB_ASSIGN_OR_RETURN(p->mean, RealList(v, Field(path, "mean")));
  }
  if (const YAML::Node v = n["std"]) {
    RIB_ASSIGN_OR_RETURN(p->std, RealList(v, Field(path, "std")));
    for (size_t i = 0; i < p->std->size(); ++i) {
      if (!((*p->std)[i] > 0)) {
        return Error(v[i], Index(Field(path, "std"), i), "must be > 0");
      }
    }
  }
  if (const YAML::Node v = n["interpolation"]) {
    RIB_ASSIGN_OR_RETURN(p->interpolation,
                         OneOf(v, Field(path, "interpolation"), {"bicubic", "bilinear"}));
  }
  return absl::OkStatus();
}

absl::Status SweepParser::ParseMethods(const YAML::Node& methods,
                                       SweepSpec* sweep) const {
  if (!methods.IsSequence()) {
    return Error(methods, "methods",
                 absl::StrCat("expected a list, got ", Describe(methods)));
  }
  if (methods.size() == 0) return Error(methods, "methods", "empty list");
  const std::string kinds = Join(MethodKinds());
  std::map<std::string, size_t> name_index;
  std::vector<std::vector<YAML::Node>> member_nodes(methods.size());
  for (size_t i = 0; i < methods.size(); ++i) {
    const YAML::Node entry = methods[i];
    const std::string path = Index("methods", i);
    MethodSpec m;
    // YAML::Node's operator= writes into the document; reset() rebinds a handle.
    YAML::Node kind_node = entry;
    std::string kind_path = path;
    YAML::Node name_node = entry;
    if (entry.IsMap()) {
      RIB_RETURN_IF_ERROR(CheckMap(entry, path, {"name", "kind", "params", "members"}));
      kind_node.reset(entry["kind"]);
      kind_path = Field(path, "kind");
      if (!kind_node) return Error(entry, kind_path, "missing");
    } else if (!entry.IsScalar()) {
      return Error(
          entry, path,
          absl::StrCat("expected a method kind or a map, got ", Describe(entry)));
    }
    RIB_ASSIGN_OR_RETURN(m.kind, Str(kind_node, kind_path));
    if (!IsMethodKind(m.kind)) {
      return Error(
          kind_node, kind_path,
          absl::StrCat("unknown method '", m.kind, "' (expected one of ", kinds, ")"));
    }
    m.name = m.kind;
    if (entry.IsMap() && entry["name"]) {
      name_node.reset(entry["name"]);
      RIB_ASSIGN_OR_RETURN(m.name, Str(name_node, Field(path, "name")));
      if (absl::Status s = ValidateName(m.name, Field(path, "name")); !s.ok()) {
        return Locate(name_node, s);
      }
      if (m.name != m.kind && IsMethodKind(m.name)) {
        return Error(name_node, Field(path, "name"),
                     absl::StrCat("'", m.name, "' is the name of a method kind; only a ",
                                  m.name, " method may be called that"));
      }
    }
    std::map<std::string, std::string> params;
    if (entry.IsMap() && entry["params"]) {
      const YAML::Node pn = entry["params"];
      const std::string params_path = Field(path, "params");
      if (!pn.IsMap()) {
        return Error(pn, params_path, absl::StrCat("expected a map, got ", Describe(pn)));
      }
      for (auto it = pn.begin(); it != pn.end(); ++it) {
        RIB_ASSIGN_OR_RETURN(std::string key, Str(it->first, params_path));
        const std::string field = Field(params_path, key);
        if (params.count(key) > 0) return Error(it->first, field, "duplicate key");
        RIB_ASSIGN_OR_RETURN(std::string text, Str(it->second, field));
        absl::StatusOr<std::string> canonical = CanonicalMethodParam(m.kind, key, text);
        if (!canonical.ok()) {
          // Unknown names point at the key, bad values at the value.
          return Error(IsMethodParam(m.kind, key) ? it->second : it->first, field,
                       canonical.status().message());
        }
        params[key] = *std::move(canonical);
      }
    }
    RIB_ASSIGN_OR_RETURN(m.params, CanonicalMethodParams(m.kind, params));
    if (entry.IsMap() && entry["members"]) {
      const std::string members_path = Field(path, "members");
      if (m.kind != "soup") {
        return Error(entry["members"], members_path, "only a soup has members");
      }
      RIB_ASSIGN_OR_RETURN(m.members,
                           StrList(entry["members"], members_path, &member_nodes[i]));
    } else if (m.kind == "soup") {
      return Error(entry, Field(path, "members"),
                   "missing (a soup lists the methods whose weights it averages)");
    }
    auto [it, inserted] = name_index.emplace(m.name, i);
    if (!inserted) {
      return Error(name_node, entry.IsMap() ? Field(path, "name") : path,
                   absl::StrCat("duplicate method name '", m.name, "' (also methods[",
                                it->second, "]; give one a name)"));
    }
    sweep->methods.push_back(std::move(m));
  }

  for (size_t i = 0; i < sweep->methods.size(); ++i) {
    const MethodSpec& m = sweep->methods[i];
    for (size_t k = 0; k < m.members.size(); ++k) {
      const std::string field = Index(Field(Index("methods", i), "members"), k);
      auto it = name_index.find(m.members[k]);
      if (it == name_index.end()) {
        std::vector<std::string> names;
        for (const MethodSpec& other : sweep->methods) names.push_back(other.name);
        return Error(member_nodes[i][k], field,
                     absl::StrCat("'", m.members[k], "' is not a method of this sweep (",
                                  "methods: ", Join(names), ")"));
      }
      absl::Status member_ok =
          CheckSoupMember(m.members[k], sweep->methods[it->second].kind);
      if (!member_ok.ok()) {
        return Error(member_nodes[i][k], field, std::string(member_ok.message()));
      }
    }
    // Same kind, params and members as an earlier method: the same jobs twice.
    for (size_t k = 0; k < i; ++k) {
      const MethodSpec& other = sweep->methods[k];
      std::vector<std::string> a = m.members, b = other.members;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      if (other.kind == m.kind && other.params == m.params && a == b) {
        return Error(methods[i], Index("methods", i),
                     absl::StrCat("same kind and parameters as methods[", k, "] ('",
                                  other.name, "'); it would compute the same jobs"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status SweepParser::ParseDatasets(const YAML::Node& n, const std::string& path,
                                        const std::string& suite,
                                        const std::vector<std::string>& allowed,
                                        std::vector<std::string>* out) const {
  std::vector<YAML::Node> nodes;
  RIB_ASSIGN_OR_RETURN(*out, StrList(n, path, &nodes));
  for (size_t i = 0; i < out->size(); ++i) {
    const std::string& d = (*out)[i];
    if (std::find(allowed.begin(), allowed.end(), d) != allowed.end()) continue;
    std::string why = absl::StrCat("unknown dataset '", d, "' for suite ", suite);
    if (d == SuitePretrainDataset(suite)) {
      why = absl::StrCat("'", d,
                         "' is the pre-training set's analogue, not a fine-tune set");
    }
    return Error(nodes[i], Index(path, i),
                 absl::StrCat(why, " (expected one of ", Join(allowed), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SweepSpec> ParseSweepYaml(absl::string_view text,
                                         absl::string_view source_name) {
  const std::string source(source_name);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":",
                                                   e.mark.is_null() ? 1 : e.mark.line + 1,
                                                   ": malformed YAML: ", e.msg));
  }
  try {
    return SweepParser(source).Parse(root);
  } catch (const YAML::Exception& e) {
    // Should not happen (every access checks types first); keep it an input error.
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", e.mark.is_null() ? 1 : e.mark.line + 1, ": ", e.msg));
  }
}

}  // namespace rib::spec
