#include "spec/methods.h"

#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json.h"
#include "spec/suites.h"

namespace rib::spec {
namespace {

// ewc's default lambda (README, "Methods: rib and the paper": how it was chosen).
constexpr char kEwcLambdaDefault[] = "100";

ParamDef Int(const char* name, double min, double max, const char* default_text) {
  return ParamDef{name, ParamType::kInt, min, true, max, default_text};
}

ParamDef Real(const char* name, double min, bool min_inclusive, double max,
              const char* default_text) {
  return ParamDef{name, ParamType::kReal, min, min_inclusive, max, default_text};
}

// `unhashed`: the value of the behaviour before the parameter existed (ParamDef).
ParamDef Choice(const char* name, std::vector<std::string> choices,
                const char* default_text, const char* unhashed) {
  ParamDef p{name, ParamType::kChoice, 0, true, kUnbounded, default_text};
  p.choices = std::move(choices);
  p.unhashed_value = unhashed;
  return p;
}

// ewc's fisher_dataset: kPretrainValidation (the job's suite's pre-training validation
// set, spec/suites.h) or any dataset key.
ParamDef FisherDatasetParam() {
  std::vector<std::string> choices = {kPretrainValidation};
  for (const std::string& key : AllDatasetKeys()) choices.push_back(key);
  return Choice("fisher_dataset", std::move(choices), kPretrainValidation, "");
}

std::string ParamNames(const MethodDef& def) {
  std::vector<std::string> names;
  for (const ParamDef& p : def.params) names.push_back(p.name);
  return absl::StrJoin(names, ", ");
}

const ParamDef* FindParam(const MethodDef& def, absl::string_view name) {
  for (const ParamDef& p : def.params) {
    if (name == p.name) return &p;
  }
  return nullptr;
}

}  // namespace

const std::vector<MethodDef>& MethodCatalog() {
  static const auto* defs = new std::vector<MethodDef>{
      {"pre", false, "", {}},
      {"ft", true, "", {}},
      // Defaults: the reference code's behaviour (methods.h).
      {"lp", true, "", {Choice("trainable", {"head", "reference"}, "reference", "head")}},
      {"lpft", true, "lp", {}},
      {"lora",
       true,
       "",
       {Real("alpha", 0, false, kUnbounded, "1"), Int("rank", 1, 4096, "8"),
        Choice("train_extra", {"none", "reference"}, "reference", "none")}},
      // pad: the prompt's width in pixels at 224 px (scaled by the image side); it must
      // leave some of the image uncovered.
      {"vp",
       true,
       "",
       {Choice("init", {"normal", "zeros"}, "normal", "zeros"), Real("pad", 0, false, 111, "30")}},
      {"lwf",
       true,
       "",
       {Real("alpha", 0, true, kUnbounded, "1"),
        Real("temperature", 0, false, kUnbounded, "2")}},
      // The Fisher: the mean over fisher_samples examples of fisher_dataset of the
      // squared per-example gradient (methods.h); lambda: see the README's methods
      // section for how the default was chosen.
      {"ewc",
       true,
       "",
       {FisherDatasetParam(), Int("fisher_samples", 1, 1e6, "1024"),
        Real("lambda", 0, true, kUnbounded, kEwcLambdaDefault)}},
      {"l2sp", true, "", {Real("lambda", 0, true, kUnbounded, "1")}},
      {"wise-ft", false, "ft", {Real("alpha", 0, true, 1, "0.5")}},
      // include_pre: whether θ_pre is averaged in as one more member; "yes" was the
      // only behaviour before the parameter existed.
      {"soup", false, "", {Choice("include_pre", {"no", "yes"}, "no", "yes")}},
      // An analysis, not a fine-tuning: OTDD(pre-training set, finetune_dataset) on the
      // pre-trained features (worker/engine/otdd.h). epsilon 0.1 and max_samples 10000
      // are the otdd package's entreg and distance(maxsamples) defaults.
      {kOtddKind,
       false,
       "",
       {Real("epsilon", 0, false, kUnbounded, "0.1"),
        Int("max_samples", 10, 1e6, "10000")}},
  };
  return *defs;
}

const MethodDef* FindMethod(absl::string_view kind) {
  for (const MethodDef& def : MethodCatalog()) {
    if (kind == def.kind) return &def;
  }
  return nullptr;
}

const std::vector<std::string>& MethodKinds() {
  static const auto* kinds = [] {
    auto* out = new std::vector<std::string>;
    for (const MethodDef& def : MethodCatalog()) out->push_back(def.kind);
    return out;
  }();
  return *kinds;
}

bool IsMethodKind(absl::string_view kind) { return FindMethod(kind) != nullptr; }

bool MethodReportsDistance(absl::string_view kind) { return kind == kOtddKind; }

bool MethodTrains(absl::string_view kind) {
  const MethodDef* def = FindMethod(kind);
  return def != nullptr && def->trains;
}

std::string MethodDependencyKind(absl::string_view kind) {
  const MethodDef* def = FindMethod(kind);
  return def == nullptr ? "" : def->dependency_kind;
}

bool IsMethodParam(absl::string_view kind, absl::string_view name) {
  const MethodDef* def = FindMethod(kind);
  return def != nullptr && FindParam(*def, name) != nullptr;
}

std::string ParamRangeText(const ParamDef& p) {
  if (p.type == ParamType::kChoice) {
    return absl::StrCat("one of ", absl::StrJoin(p.choices, ", "));
  }
  const std::string lo = FormatCanonicalNumber(p.min);
  if (p.max >= kUnbounded) return absl::StrCat(p.min_inclusive ? ">= " : "> ", lo);
  return absl::StrCat("in ", p.min_inclusive ? "[" : "(", lo, ", ",
                      FormatCanonicalNumber(p.max), "]");
}

absl::StatusOr<std::string> CanonicalMethodParam(absl::string_view kind,
                                                 absl::string_view name,
                                                 absl::string_view value) {
  const MethodDef* def = FindMethod(kind);
  if (def == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown method '", kind, "'"));
  }
  const ParamDef* param = FindParam(*def, name);
  if (param == nullptr) {
    if (def->params.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("method '", kind, "' takes no parameters"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown parameter of ", kind, " (expected one of ", ParamNames(*def), ")"));
  }
  const std::string text(absl::StripAsciiWhitespace(value));
  if (param->type == ParamType::kChoice) {
    for (const std::string& c : param->choices) {
      if (text == c) return text;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("must be ", ParamRangeText(*param), ", got '", value, "'"));
  }
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
        absl::StrCat("must be ", ParamRangeText(*param), ", got ", text));
  }
  return canonical;
}

absl::StatusOr<std::map<std::string, std::string>> CanonicalMethodParams(
    absl::string_view kind, const std::map<std::string, std::string>& params) {
  const MethodDef* def = FindMethod(kind);
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

std::map<std::string, std::string> HashedMethodParams(
    absl::string_view kind, std::map<std::string, std::string> params) {
  const MethodDef* def = FindMethod(kind);
  if (def == nullptr) return params;
  for (const ParamDef& p : def->params) {
    auto it = params.find(p.name);
    if (!p.unhashed_value.empty() && it != params.end() && it->second == p.unhashed_value) {
      params.erase(it);
    }
  }
  return params;
}

absl::Status ValidateMethod(const MethodSpec& method) {
  const MethodDef* def = FindMethod(method.kind);
  if (def == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown method kind '", method.kind, "' (expected one of ",
                     absl::StrJoin(MethodKinds(), ", "), ")"));
  }
  for (const auto& [name, value] : method.params) {
    if (FindParam(*def, name) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "method '", method.name, "' (", method.kind, ") takes no parameter '", name,
          "'",
          def->params.empty() ? ""
                              : absl::StrCat(" (it takes: ", ParamNames(*def), ")")));
    }
    absl::StatusOr<std::string> canonical =
        CanonicalMethodParam(method.kind, name, value);
    if (!canonical.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("method '", method.name, "' (", method.kind, "): parameter ", name,
                       "='", value, "': ", canonical.status().message()));
    }
  }
  return absl::OkStatus();
}

namespace {

const char* TypeName(ParamType type) {
  switch (type) {
    case ParamType::kInt:
      return "integer";
    case ParamType::kReal:
      return "real";
    case ParamType::kChoice:
      return "choice";
  }
  return "?";
}

// The parameter's canonical text (its default when absent).
absl::StatusOr<std::string> ParamText(const MethodSpec& method, absl::string_view name,
                                      ParamType type) {
  const MethodDef* def = FindMethod(method.kind);
  const ParamDef* param = def == nullptr ? nullptr : FindParam(*def, name);
  if (param == nullptr || param->type != type) {
    return absl::InvalidArgumentError(absl::StrCat("method kind '", method.kind,
                                                   "' has no ", TypeName(type),
                                                   " parameter '", name, "'"));
  }
  auto it = method.params.find(std::string(name));
  const std::string& text = it == method.params.end() ? param->default_text : it->second;
  absl::StatusOr<std::string> canonical = CanonicalMethodParam(method.kind, name, text);
  if (!canonical.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("method '", method.name, "' (", method.kind, "): parameter ", name,
                     "='", text, "': ", canonical.status().message()));
  }
  return canonical;
}

absl::StatusOr<double> ParamValue(const MethodSpec& method, absl::string_view name,
                                  ParamType type) {
  absl::StatusOr<std::string> canonical = ParamText(method, name, type);
  if (!canonical.ok()) return canonical.status();
  double v = 0;
  if (!absl::SimpleAtod(*canonical, &v)) {
    return absl::InternalError(absl::StrCat("canonical parameter '", *canonical, "'"));
  }
  return v;
}

}  // namespace

absl::StatusOr<int64_t> MethodParamInt(const MethodSpec& method, absl::string_view name) {
  absl::StatusOr<double> v = ParamValue(method, name, ParamType::kInt);
  if (!v.ok()) return v.status();
  return static_cast<int64_t>(*v);
}

absl::StatusOr<double> MethodParamReal(const MethodSpec& method, absl::string_view name) {
  return ParamValue(method, name, ParamType::kReal);
}

absl::StatusOr<std::string> MethodParamChoice(const MethodSpec& method,
                                              absl::string_view name) {
  return ParamText(method, name, ParamType::kChoice);
}

absl::Status CheckSoupMember(absl::string_view member, absl::string_view kind) {
  const char* why = nullptr;
  if (kind == "pre") {
    why = "; the pre-trained weights join a soup through its include_pre parameter";
  } else if (kind == "soup") {
    why = "; a soup cannot contain another soup";
  } else if (kind == "vp") {
    why =
        "; a soup averages weights, and vp's learned prompt is not one (its weights are "
        "the pre-trained model's, so the prompt would be dropped)";
  }
  if (why == nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("'", member, "' is a ", kind, " method", why));
}

absl::StatusOr<std::string> EwcFisherDataset(const JobSpec& job) {
  absl::StatusOr<std::string> choice = MethodParamChoice(job.method, "fisher_dataset");
  if (!choice.ok() || *choice != kPretrainValidation) return choice;
  std::string key = SuitePretrainDataset(job.suite);
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "method '", job.method.name, "' (ewc): fisher_dataset ", kPretrainValidation,
        " is the suite's pre-training validation set, but the job's suite '", job.suite,
        "' is unknown (expected one of ", absl::StrJoin(KnownSuites(), ", "), ")"));
  }
  return key;
}

std::vector<std::string> MethodExtraDatasets(const JobSpec& job) {
  if (job.method.kind == kOtddKind) {
    const std::string pretrain = SuitePretrainDataset(job.suite);
    if (pretrain.empty()) return {};
    return {pretrain};
  }
  if (job.method.kind != "ewc") return {};
  absl::StatusOr<std::string> key = EwcFisherDataset(job);
  if (!key.ok()) return {};
  return {*key};
}

}  // namespace rib::spec
