// Suites, method kinds and parameters, defaults, canonical JSON, job hashes and sweep
// expansion. The YAML parser lives in sweep_yaml.cc.
#include "common/sweep.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/hash.h"
#include "common/json.h"
#include "common/status_macros.h"

namespace rib {
namespace {

// ---- Method parameters -------------------------------------------------------------

enum class ParamType { kInt, kReal };

struct ParamDef {
  const char* name;
  ParamType type;
  double min;
  bool min_inclusive;
  double max;  // inclusive
  const char* default_text;
};

constexpr double kInf = 1e300;

struct KindDef {
  const char* kind;
  bool trains;
  const char* dependency_kind;
  std::vector<ParamDef> params;  // sorted by name
};

const std::vector<KindDef>& KindDefs() {
  static const auto* defs = new std::vector<KindDef>{
      {"pre", false, "", {}},
      {"ft", true, "", {}},
      {"lp", true, "", {}},
      {"lpft", true, "lp", {}},
      {"lora",
       true,
       "",
       {{"alpha", ParamType::kReal, 0, false, kInf, "1"},
        {"rank", ParamType::kInt, 1, true, 4096, "8"}}},
      // The prompt's width in pixels at 224 px (scaled by the image side); it must
      // leave some of the image uncovered. Names and defaults match worker/engine.
      {"vp", true, "", {{"pad", ParamType::kReal, 0, false, 111, "30"}}},
      {"lwf",
       true,
       "",
       {{"alpha", ParamType::kReal, 0, true, kInf, "1"},
        {"temperature", ParamType::kReal, 0, false, kInf, "2"}}},
      {"ewc",
       true,
       "",
       // The diagonal Fisher is a mean of squared per-batch gradients, small numbers:
       // lambda is large to make the penalty matter.
       {{"fisher_batches", ParamType::kInt, 1, true, 1e6, "16"},
        {"lambda", ParamType::kReal, 0, true, kInf, "5000"}}},
      {"l2sp", true, "", {{"lambda", ParamType::kReal, 0, true, kInf, "1"}}},
      {"wise-ft", false, "ft", {{"alpha", ParamType::kReal, 0, true, 1, "0.5"}}},
      {"soup", false, "", {}},
  };
  return *defs;
}

const KindDef* FindKind(absl::string_view kind) {
  for (const KindDef& def : KindDefs()) {
    if (kind == def.kind) return &def;
  }
  return nullptr;
}

std::string ParamNames(const KindDef& def) {
  std::vector<std::string> names;
  for (const ParamDef& p : def.params) names.push_back(p.name);
  return absl::StrJoin(names, ", ");
}

std::string RangeText(const ParamDef& p) {
  const std::string lo = FormatCanonicalNumber(p.min);
  if (p.max >= kInf) return absl::StrCat(p.min_inclusive ? ">= " : "> ", lo);
  return absl::StrCat("in ", p.min_inclusive ? "[" : "(", lo, ", ",
                      FormatCanonicalNumber(p.max), "]");
}

// ---- JSON ----------------------------------------------------------------------------

std::string Number(double v) {
  // JSON has no NaN or infinity; a validated spec never holds them.
  if (!std::isfinite(v)) return "null";
  return FormatCanonicalNumber(v);
}

// Collects members and writes them with keys sorted (std::map order = byte order).
class JsonObject {
 public:
  JsonObject& Raw(const std::string& key, std::string json) {
    fields_[key] = std::move(json);
    return *this;
  }
  JsonObject& Str(const std::string& key, absl::string_view v) {
    return Raw(key, JsonQuote(v));
  }
  JsonObject& Real(const std::string& key, double v) { return Raw(key, Number(v)); }
  JsonObject& Int(const std::string& key, int64_t v) { return Raw(key, absl::StrCat(v)); }
  JsonObject& Bool(const std::string& key, bool v) {
    return Raw(key, v ? "true" : "false");
  }
  std::string Build() const {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, v] : fields_) {
      if (!first) out += ",";
      first = false;
      absl::StrAppend(&out, JsonQuote(k), ":", v);
    }
    return out + "}";
  }

 private:
  std::map<std::string, std::string> fields_;
};

std::string StringArray(std::vector<std::string> items) {
  std::vector<std::string> quoted;
  for (const std::string& s : items) quoted.push_back(JsonQuote(s));
  return absl::StrCat("[", absl::StrJoin(quoted, ","), "]");
}

std::string RealArray(const std::vector<double>& items) {
  std::vector<std::string> out;
  for (double v : items) out.push_back(Number(v));
  return absl::StrCat("[", absl::StrJoin(out, ","), "]");
}

constexpr int kCanonicalSchema = 1;

}  // namespace

// ---- Suites --------------------------------------------------------------------------

const std::vector<std::string>& KnownSuites() {
  static const auto* suites = new std::vector<std::string>{"fmnist-rib", "imagenet-rib"};
  return *suites;
}

std::vector<std::string> SuiteDownstreamDatasets(const std::string& suite) {
  if (suite == "imagenet-rib") {
    return {"imagenet-v2", "imagenet-a",       "imagenet-r",       "imagenet-sketch",
            "objectnet",   "imagenet-cartoon", "imagenet-drawing", "imagenet-c"};
  }
  if (suite == "fmnist-rib") {
    return {"fmnist-v2",        "fmnist-a",       "fmnist-r",       "fmnist-sketch",
            "fmnist-objectnet", "fmnist-cartoon", "fmnist-drawing", "fmnist-c"};
  }
  return {};
}

std::string SuitePretrainDataset(const std::string& suite) {
  if (suite == "imagenet-rib") return "imagenet-val";
  if (suite == "fmnist-rib") return "fmnist-val";
  return "";
}

std::vector<std::string> SuiteEvalDatasets(const std::string& suite) {
  const std::string val = SuitePretrainDataset(suite);
  if (val.empty()) return {};
  std::vector<std::string> out = {val};
  for (std::string& d : SuiteDownstreamDatasets(suite)) out.push_back(std::move(d));
  return out;
}

int SuiteDefaultNumClasses(const std::string& suite) {
  return suite == "fmnist-rib" ? 10 : 1000;
}

// ---- Methods -------------------------------------------------------------------------

const std::vector<std::string>& MethodKinds() {
  static const auto* kinds = [] {
    auto* out = new std::vector<std::string>;
    for (const KindDef& def : KindDefs()) out->push_back(def.kind);
    return out;
  }();
  return *kinds;
}

bool IsMethodKind(absl::string_view kind) { return FindKind(kind) != nullptr; }

bool MethodTrains(absl::string_view kind) {
  const KindDef* def = FindKind(kind);
  return def != nullptr && def->trains;
}

std::string MethodDependencyKind(absl::string_view kind) {
  const KindDef* def = FindKind(kind);
  return def == nullptr ? "" : def->dependency_kind;
}

bool IsMethodParam(absl::string_view kind, absl::string_view name) {
  const KindDef* def = FindKind(kind);
  if (def == nullptr) return false;
  for (const ParamDef& p : def->params) {
    if (name == p.name) return true;
  }
  return false;
}

absl::StatusOr<std::string> CanonicalMethodParam(absl::string_view kind,
                                                 absl::string_view name,
                                                 absl::string_view value) {
  const KindDef* def = FindKind(kind);
  if (def == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown method '", kind, "'"));
  }
  const ParamDef* param = nullptr;
  for (const ParamDef& p : def->params) {
    if (name == p.name) param = &p;
  }
  if (param == nullptr) {
    if (def->params.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("method '", kind, "' takes no parameters"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown parameter of ", kind, " (expected one of ", ParamNames(*def), ")"));
  }
  const std::string text(absl::StripAsciiWhitespace(value));
  double v = 0;
  std::string canonical;
  if (param->type == ParamType::kInt) {
    int64_t i = 0;
    if (!absl::SimpleAtoi(text, &i)) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected an integer, got '", value, "'"));
    }
    v = static_cast<double>(i);
    canonical = absl::StrCat(i);
  } else {
    if (!absl::SimpleAtod(text, &v) || !std::isfinite(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected a number, got '", value, "'"));
    }
    canonical = FormatCanonicalNumber(v);
  }
  const bool low_ok = param->min_inclusive ? v >= param->min : v > param->min;
  if (!low_ok || v > param->max) {
    return absl::InvalidArgumentError(
        absl::StrCat("must be ", RangeText(*param), ", got ", text));
  }
  return canonical;
}

absl::StatusOr<std::map<std::string, std::string>> CanonicalMethodParams(
    absl::string_view kind, const std::map<std::string, std::string>& params) {
  const KindDef* def = FindKind(kind);
  if (def == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown method '", kind, "'"));
  }
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : params) {
    absl::StatusOr<std::string> canonical = CanonicalMethodParam(kind, name, value);
    if (!canonical.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("params.", name, ": ", canonical.status().message()));
    }
    out[name] = *std::move(canonical);
  }
  for (const ParamDef& p : def->params) out.emplace(p.name, p.default_text);
  return out;
}

// ---- Preprocessing -------------------------------------------------------------------

Preprocessing DefaultPreprocessing(absl::string_view arch) {
  Preprocessing p;
  p.interpolation = "bicubic";
  if (absl::StartsWith(arch, "fmnist_")) {
    p.image_size = 32;
    p.crop_pct = 1.0;
    p.mean = {0.5, 0.5, 0.5};
    p.std = {0.5, 0.5, 0.5};
    return p;
  }
  // An explicit size in the name ("vit_base_patch16_384", "..._clip_336") wins.
  p.image_size = 224;
  for (size_t pos = arch.find('_'); pos != absl::string_view::npos;
       pos = arch.find('_', pos + 1)) {
    size_t end = pos + 1;
    while (end < arch.size() && absl::ascii_isdigit(arch[end])) ++end;
    const absl::string_view digits = arch.substr(pos + 1, end - pos - 1);
    int size = 0;
    if (digits.size() == 3 && (end == arch.size() || !absl::ascii_isalnum(arch[end])) &&
        absl::SimpleAtoi(digits, &size) && size >= 100) {
      p.image_size = size;
    }
  }
  if (absl::StrContains(arch, "clip")) {
    p.crop_pct = 1.0;
    p.mean = {0.48145466, 0.4578275, 0.40821073};
    p.std = {0.26862954, 0.26130258, 0.27577711};
  } else if (absl::StartsWith(arch, "resnet")) {
    p.crop_pct = 0.875;
    p.mean = {0.485, 0.456, 0.406};
    p.std = {0.229, 0.224, 0.225};
  } else {
    p.crop_pct = 0.9;
    p.mean = {0.5, 0.5, 0.5};
    p.std = {0.5, 0.5, 0.5};
  }
  return p;
}

// ---- Canonical JSON and hash ---------------------------------------------------------

std::string CanonicalJobJson(const JobSpec& spec) {
  const ModelSpec& m = spec.model;
  JsonObject pre;
  pre.Int("image_size", m.preprocessing.image_size)
      .Real("crop_pct", m.preprocessing.crop_pct)
      .Raw("mean", RealArray(m.preprocessing.mean))
      .Raw("std", RealArray(m.preprocessing.std))
      .Str("interpolation", m.preprocessing.interpolation);
  JsonObject model;
  model.Str("arch", m.arch)
      .Str("weights_digest", m.weights_digest)
      .Int("num_classes", m.num_classes)
      .Raw("preprocessing", pre.Build());

  // Canonical params when valid, so a hand-built spec hashes like a parsed one; an
  // invalid spec still gets a deterministic (different) hash.
  absl::StatusOr<std::map<std::string, std::string>> canonical =
      CanonicalMethodParams(spec.method.kind, spec.method.params);
  const std::map<std::string, std::string>& params =
      canonical.ok() ? *canonical : spec.method.params;
  JsonObject params_json;
  for (const auto& [k, v] : params) params_json.Str(k, v);
  JsonObject method;
  method.Str("kind", spec.method.kind).Raw("params", params_json.Build());

  std::vector<std::string> deps;
  for (const auto& [name, hash] : spec.dependency_hashes) deps.push_back(hash);
  std::sort(deps.begin(), deps.end());
  std::vector<std::string> evals = spec.eval_datasets;
  std::sort(evals.begin(), evals.end());

  JsonObject eval;
  eval.Str("precision", spec.training.precision)
      .Bool("skip_corrupt", spec.training.skip_corrupt);

  JsonObject job;
  job.Int("schema", kCanonicalSchema)
      .Raw("model", model.Build())
      .Raw("method", method.Build())
      .Raw("dependencies", StringArray(deps))
      .Str("finetune_dataset", spec.finetune_dataset)
      .Raw("eval_datasets", StringArray(evals))
      .Raw("eval", eval.Build())
      .Str("split", spec.split)
      .Int("seed", spec.training.seed)
      .Str("suite", spec.suite);
  // split: reference trains and tests on whole datasets; the fraction is unused.
  if (spec.split != "reference") job.Real("test_fraction", spec.test_fraction);
  if (MethodTrains(spec.method.kind)) {
    const TrainingConfig& t = spec.training;
    JsonObject training;
    training.Str("optimizer", t.optimizer)
        .Real("lr", t.lr)
        .Real("momentum", t.momentum)
        .Real("weight_decay", t.weight_decay)
        .Int("batch_size", t.batch_size)
        .Int("epochs", t.epochs)
        .Int("warmup_steps", t.warmup_steps)
        .Str("schedule", t.schedule)
        .Int("max_steps", t.max_steps);
    job.Raw("training", training.Build());
  }
  return job.Build();
}

std::string JobHash(const JobSpec& spec) { return Sha256Hex(CanonicalJobJson(spec)); }

// ---- Expansion -----------------------------------------------------------------------

absl::StatusOr<std::vector<PlannedJob>> ExpandSweep(const SweepSpec& sweep) {
  for (const ModelSpec& model : sweep.models) {
    if (model.weights_digest.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("model '", model.name,
                       "': weights_digest is not filled (hash the weights "
                       "file before expanding the sweep)"));
    }
  }
  std::map<std::string, const MethodSpec*> by_name;
  std::map<std::string, const MethodSpec*> by_kind;  // first method of each kind
  for (const MethodSpec& m : sweep.methods) {
    if (!IsMethodKind(m.kind)) {
      return absl::InvalidArgumentError(
          absl::StrCat("method '", m.name, "': unknown kind '", m.kind, "'"));
    }
    if (!by_name.emplace(m.name, &m).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate method name '", m.name, "'"));
    }
    by_kind.emplace(m.kind, &m);
  }
  // lora adapts attention projections: refuse it up front for a model without them rather
  // than fail one job per dataset later.
  for (const ModelSpec& model : sweep.models) {
    if (!absl::StrContains(model.arch, "resnet")) continue;
    for (const MethodSpec& m : sweep.methods) {
      if (m.kind != "lora") continue;
      return absl::InvalidArgumentError(
          absl::StrCat("method '", m.name, "' (lora) needs attention blocks; model '",
                       model.name, "' (arch ", model.arch, ") has none"));
    }
  }

  // Methods in dependency order; implicit dependencies are appended to `implicit`
  // (a deque, so pointers stay valid).
  std::deque<MethodSpec> implicit;
  std::vector<const MethodSpec*> order;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>>
      deps;  // name →
             // (dependency key, name)
  std::set<std::string> done;
  std::set<std::string> visiting;
  std::function<absl::Status(const MethodSpec&)> emit =
      [&](const MethodSpec& m) -> absl::Status {
    if (done.count(m.name) > 0) return absl::OkStatus();
    if (!visiting.insert(m.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("method '", m.name, "': dependency cycle"));
    }
    std::vector<std::pair<std::string, std::string>> my_deps;
    const std::string dep_kind = MethodDependencyKind(m.kind);
    if (!dep_kind.empty()) {
      const MethodSpec* dep = nullptr;
      auto it = by_kind.find(dep_kind);
      if (it != by_kind.end()) {
        dep = it->second;
      } else if (by_name.count(dep_kind) > 0) {
        return absl::InvalidArgumentError(absl::StrCat("method '", dep_kind,
                                                       "' is not of kind ", dep_kind,
                                                       " but ", m.kind, " needs one"));
      } else {
        implicit.push_back(MethodSpec{dep_kind, dep_kind, {}, {}});
        dep = &implicit.back();
        by_kind.emplace(dep_kind, dep);
        by_name.emplace(dep_kind, dep);
      }
      my_deps.emplace_back(dep_kind, dep->name);
      RIB_RETURN_IF_ERROR(emit(*dep));
    }
    if (m.kind == "soup") {
      if (m.members.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("method '", m.name, "': a soup needs members"));
      }
      for (const std::string& member : m.members) {
        auto it = by_name.find(member);
        if (it == by_name.end() || it->second->kind == "soup" ||
            it->second->kind == "pre") {
          return absl::InvalidArgumentError(
              absl::StrCat("method '", m.name, "': member '", member,
                           "' is not a trained or interpolated method of the sweep"));
        }
        my_deps.emplace_back(member, member);
        RIB_RETURN_IF_ERROR(emit(*it->second));
      }
    }
    visiting.erase(m.name);
    done.insert(m.name);
    deps[m.name] = std::move(my_deps);
    order.push_back(&m);
    return absl::OkStatus();
  };
  for (const MethodSpec& m : sweep.methods) {
    if (m.kind == "pre") continue;  // merges with the automatic pre job
    RIB_RETURN_IF_ERROR(emit(m));
  }

  std::vector<std::string> evals = sweep.eval_datasets;
  if (evals.empty()) evals = SuiteEvalDatasets(sweep.suite);
  std::vector<std::string> finetune = sweep.finetune_datasets;
  if (finetune.empty()) finetune = SuiteDownstreamDatasets(sweep.suite);

  JobSpec base;
  base.eval_datasets = evals;
  base.training = sweep.training;
  base.split = sweep.split;
  base.test_fraction = sweep.test_fraction;
  base.devices = sweep.devices;
  base.suite = sweep.suite;

  std::vector<PlannedJob> jobs;
  std::map<std::string, std::string> hash_of;  // key → hash
  auto add = [&](PlannedJob job) {
    job.hash = JobHash(job.spec);
    if (hash_of.emplace(job.key, job.hash).second) jobs.push_back(std::move(job));
  };
  for (const ModelSpec& model : sweep.models) {
    PlannedJob pre;
    pre.key = absl::StrCat(model.name, "/pre");
    pre.spec = base;
    pre.spec.model = model;
    pre.spec.method = MethodSpec{"pre", "pre", {}, {}};
    add(std::move(pre));
    for (const MethodSpec* m : order) {
      absl::StatusOr<std::map<std::string, std::string>> params =
          CanonicalMethodParams(m->kind, m->params);
      if (!params.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("method '", m->name, "': ", params.status().message()));
      }
      for (const std::string& dataset : finetune) {
        PlannedJob job;
        job.key = absl::StrCat(model.name, "/", m->name, "/", dataset);
        job.spec = base;
        job.spec.model = model;
        job.spec.method = *m;
        job.spec.method.params = *params;
        job.spec.finetune_dataset = dataset;
        for (const auto& [role, dep_name] : deps[m->name]) {
          const std::string dep_key =
              absl::StrCat(model.name, "/", dep_name, "/", dataset);
          job.depends_on.push_back(dep_key);
          job.spec.dependency_hashes[role] = hash_of.at(dep_key);
        }
        add(std::move(job));
      }
    }
  }
  return jobs;
}

}  // namespace rib
