#include "spec/job_json.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "common/json.h"
#include "common/json_reader.h"
#include "common/status_macros.h"
#include "spec/methods.h"

namespace rib::spec {
namespace {

// Bump only with a migration plan: it changes every job's hash.
constexpr int kCanonicalSchema = 1;

JsonValue StringMap(const std::map<std::string, std::string>& m) {
  JsonValue out = JsonValue::Object();
  for (const auto& [k, v] : m) out.Set(k, JsonValue::String(v));
  return out;
}

JsonValue PreprocessingJson(const Preprocessing& p) {
  JsonValue out = JsonValue::Object();
  out.Set("image_size", JsonValue::Int(p.image_size))
      .Set("crop_pct", JsonValue::Number(p.crop_pct))
      .Set("mean", JsonValue::NumberArray(p.mean))
      .Set("std", JsonValue::NumberArray(p.std))
      .Set("interpolation", JsonValue::String(p.interpolation));
  return out;
}

// ---- Reading the stored form ----

class FieldReader {
 public:
  // `object` may be null (absent): every read keeps the default.
  FieldReader(const JsonValue* object, std::string path)
      : object_(object), path_(std::move(path)) {}

  absl::Status Check() const {
    if (object_ != nullptr && object_->type != JsonValue::Type::kObject) {
      return TypeError(path_, "an object", *object_);
    }
    return absl::OkStatus();
  }
  FieldReader Child(const char* key) const { return FieldReader(Find(key), Name(key)); }
  absl::Status Str(const char* key, std::string* out) const {
    const JsonValue* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (v->type != JsonValue::Type::kString) return TypeError(Name(key), "a string", *v);
    *out = v->text;
    return absl::OkStatus();
  }
  absl::Status Bool(const char* key, bool* out) const {
    const JsonValue* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (v->type != JsonValue::Type::kBool) return TypeError(Name(key), "a boolean", *v);
    *out = v->boolean;
    return absl::OkStatus();
  }
  absl::Status Real(const char* key, double* out) const {
    const JsonValue* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (v->type != JsonValue::Type::kNumber) return TypeError(Name(key), "a number", *v);
    *out = v->number;
    return absl::OkStatus();
  }
  template <typename T>
  absl::Status Int(const char* key, T* out) const {
    const JsonValue* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    int64_t i = 0;
    if (v->type != JsonValue::Type::kNumber || !absl::SimpleAtoi(v->text, &i) ||
        static_cast<T>(i) != i) {
      return TypeError(Name(key), "an integer", *v);
    }
    *out = static_cast<T>(i);
    return absl::OkStatus();
  }
  absl::Status StrList(const char* key, std::vector<std::string>* out) const {
    return List(key, JsonValue::Type::kString, "an array of strings", out,
                [](const JsonValue& e) { return e.text; });
  }
  absl::Status RealList(const char* key, std::vector<double>* out) const {
    return List(key, JsonValue::Type::kNumber, "an array of numbers", out,
                [](const JsonValue& e) { return e.number; });
  }
  // An optional array whose elements are all of type `type`, each read by `read`.
  template <typename T, typename Read>
  absl::Status List(const char* key, JsonValue::Type type, const char* expected,
                    std::vector<T>* out, Read read) const {
    const JsonValue* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (v->type != JsonValue::Type::kArray) return TypeError(Name(key), "an array", *v);
    out->clear();
    for (const JsonValue& e : v->array) {
      if (e.type != type) return TypeError(Name(key), expected, e);
      out->push_back(read(e));
    }
    return absl::OkStatus();
  }
  absl::Status StrMap(const char* key, std::map<std::string, std::string>* out) const {
    const JsonValue* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (v->type != JsonValue::Type::kObject) return TypeError(Name(key), "an object", *v);
    out->clear();
    for (const auto& [k, e] : v->object) {
      if (e.type != JsonValue::Type::kString) {
        return TypeError(absl::StrCat(Name(key), ".", k), "a string", e);
      }
      (*out)[k] = e.text;
    }
    return absl::OkStatus();
  }

 private:
  const JsonValue* Find(const char* key) const {
    if (object_ == nullptr) return nullptr;
    const JsonValue* v = object_->Get(key);
    return v == nullptr || v->type == JsonValue::Type::kNull ? nullptr : v;
  }
  std::string Name(const char* key) const {
    return path_.empty() ? key : absl::StrCat(path_, ".", key);
  }
  static absl::Status TypeError(const std::string& field, const char* expected,
                                const JsonValue& got) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job spec: ", field, ": expected ", expected, ", got ", JsonTypeName(got.type)));
  }

  const JsonValue* object_;
  std::string path_;
};

// Whether the job runs an optimiser with batch norm in train mode: a ResNet (the archs
// with batch norm, named "...resnet...") and a method that trains it: every training
// kind except vp (model in eval mode) and lp {trainable: head} (frozen eval-mode
// backbone). lora is refused on a ResNet at submit time. rib has no SyncBatchNorm, so
// such a job trains another model on N ranks than on one: its `devices` is hashed when
// not 1. Every other job trains the same weights on any number of ranks (to float
// tolerance) and shares its result; 1-device jobs hash as before.
bool TrainsBatchNorm(const JobSpec& spec) {
  if (!absl::StrContains(spec.model.arch, "resnet")) return false;
  if (!MethodTrains(spec.method.kind) || spec.method.kind == "vp") return false;
  if (spec.method.kind == "lp") {
    absl::StatusOr<std::map<std::string, std::string>> params =
        CanonicalMethodParams(spec.method.kind, spec.method.params);
    return !params.ok() || params->at("trainable") != "head";
  }
  return true;
}

}  // namespace

std::string CanonicalJobJson(const JobSpec& spec) {
  const ModelSpec& m = spec.model;
  JsonValue model = JsonValue::Object();
  model.Set("arch", JsonValue::String(m.arch))
      .Set("weights_digest", JsonValue::String(m.weights_digest))
      .Set("num_classes", JsonValue::Int(m.num_classes))
      .Set("preprocessing", PreprocessingJson(m.preprocessing));

  // Canonical params when valid, so a hand-built spec hashes like a parsed one; an
  // invalid spec still gets a deterministic (different) hash. A parameter at the value
  // of the behaviour from before it existed is left out (spec/methods.h).
  absl::StatusOr<std::map<std::string, std::string>> canonical =
      CanonicalMethodParams(spec.method.kind, spec.method.params);
  JsonValue method = JsonValue::Object();
  method.Set("kind", JsonValue::String(spec.method.kind))
      .Set("params", StringMap(canonical.ok()
                                   ? HashedMethodParams(spec.method.kind, *canonical)
                                   : spec.method.params));

  std::vector<std::string> deps;
  for (const auto& [name, hash] : spec.dependency_hashes) deps.push_back(hash);
  std::sort(deps.begin(), deps.end());
  std::vector<std::string> evals = spec.eval_datasets;
  std::sort(evals.begin(), evals.end());

  JsonValue eval = JsonValue::Object();
  eval.Set("precision", JsonValue::String(spec.training.precision))
      .Set("skip_corrupt", JsonValue::Bool(spec.training.skip_corrupt));
  // Held-out jobs evaluate j on every image of j not trained on, with per-image bits
  // over all of j (issue 15.9; data::EvaluationSet): results from before, on j's test
  // split alone, are another protocol and must not be reused as these. An otdd job
  // evaluates nothing; split: reference evaluates all of j as before.
  if (spec.split == "heldout" && spec.method.kind != kOtddKind)
    eval.Set("images", JsonValue::String("not-trained-on"));

  JsonValue job = JsonValue::Object();
  job.Set("schema", JsonValue::Int(kCanonicalSchema))
      .Set("model", std::move(model))
      .Set("method", std::move(method))
      .Set("dependencies", JsonValue::StringArray(deps))
      .Set("finetune_dataset", JsonValue::String(spec.finetune_dataset))
      .Set("eval_datasets", JsonValue::StringArray(evals))
      .Set("eval", std::move(eval))
      .Set("split", JsonValue::String(spec.split))
      .Set("seed", JsonValue::Int(spec.training.seed))
      .Set("suite", JsonValue::String(spec.suite));
  // split: reference trains and tests on whole datasets; the fraction is unused.
  if (spec.split != "reference")
    job.Set("test_fraction", JsonValue::Number(spec.test_fraction));
  if (spec.objectnet_mode != "standard")
    job.Set("objectnet_mode", JsonValue::String(spec.objectnet_mode));
  if (spec.devices != 1 && TrainsBatchNorm(spec))
    job.Set("devices", JsonValue::Int(spec.devices));
  if (MethodTrains(spec.method.kind)) {
    const TrainingConfig& t = spec.training;
    JsonValue training = JsonValue::Object();
    training.Set("optimizer", JsonValue::String(t.optimizer))
        .Set("lr", JsonValue::Number(t.lr))
        .Set("momentum", JsonValue::Number(t.momentum))
        .Set("weight_decay", JsonValue::Number(t.weight_decay))
        .Set("batch_size", JsonValue::Int(t.batch_size))
        .Set("epochs", JsonValue::Int(t.epochs))
        .Set("warmup_steps", JsonValue::Int(t.warmup_steps))
        .Set("schedule", JsonValue::String(t.schedule))
        .Set("max_steps", JsonValue::Int(t.max_steps));
    job.Set("training", std::move(training));
  }
  JsonWriteOptions options;
  options.sort_keys = true;
  return WriteJson(job, options);
}

std::string JobHash(const JobSpec& spec) { return Sha256Hex(CanonicalJobJson(spec)); }

std::string JobSpecToJson(const JobSpec& s) {
  const ModelSpec& m = s.model;
  const TrainingConfig& t = s.training;
  JsonValue model = JsonValue::Object();
  model.Set("name", JsonValue::String(m.name))
      .Set("arch", JsonValue::String(m.arch))
      .Set("weights", JsonValue::String(m.weights))
      .Set("weights_digest", JsonValue::String(m.weights_digest))
      .Set("preprocessing", PreprocessingJson(m.preprocessing))
      .Set("num_classes", JsonValue::Int(m.num_classes));
  JsonValue method = JsonValue::Object();
  method.Set("name", JsonValue::String(s.method.name))
      .Set("kind", JsonValue::String(s.method.kind))
      .Set("params", StringMap(s.method.params))
      .Set("members", JsonValue::StringArray(s.method.members));
  JsonValue training = JsonValue::Object();
  training.Set("optimizer", JsonValue::String(t.optimizer))
      .Set("lr", JsonValue::Number(t.lr))
      .Set("momentum", JsonValue::Number(t.momentum))
      .Set("weight_decay", JsonValue::Number(t.weight_decay))
      .Set("batch_size", JsonValue::Int(t.batch_size))
      .Set("epochs", JsonValue::Int(t.epochs))
      .Set("warmup_steps", JsonValue::Int(t.warmup_steps))
      .Set("schedule", JsonValue::String(t.schedule))
      .Set("precision", JsonValue::String(t.precision))
      .Set("seed", JsonValue::Int(t.seed))
      .Set("skip_corrupt", JsonValue::Bool(t.skip_corrupt))
      .Set("max_steps", JsonValue::Int(t.max_steps))
      .Set("eval_batch_size", JsonValue::Int(t.eval_batch_size));
  JsonValue job = JsonValue::Object();
  job.Set("model", std::move(model))
      .Set("method", std::move(method))
      .Set("finetune_dataset", JsonValue::String(s.finetune_dataset))
      .Set("eval_datasets", JsonValue::StringArray(s.eval_datasets))
      .Set("training", std::move(training))
      .Set("split", JsonValue::String(s.split))
      .Set("test_fraction", JsonValue::Number(s.test_fraction))
      .Set("devices", JsonValue::Int(s.devices))
      .Set("suite", JsonValue::String(s.suite))
      .Set("objectnet_mode", JsonValue::String(s.objectnet_mode))
      .Set("dependency_hashes", StringMap(s.dependency_hashes));
  return WriteJson(job);
}

absl::StatusOr<JobSpec> JobSpecFromJson(absl::string_view json) {
  absl::StatusOr<JsonValue> root = ParseJson(json);
  if (!root.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("job spec: ", root.status().message()));
  }
  if (root->type != JsonValue::Type::kObject) {
    return absl::InvalidArgumentError("job spec is not a JSON object");
  }
  JobSpec s;
  const FieldReader r(&*root, "");
  const FieldReader m = r.Child("model");
  RIB_RETURN_IF_ERROR(m.Check());
  RIB_RETURN_IF_ERROR(m.Str("name", &s.model.name));
  RIB_RETURN_IF_ERROR(m.Str("arch", &s.model.arch));
  RIB_RETURN_IF_ERROR(m.Str("weights", &s.model.weights));
  RIB_RETURN_IF_ERROR(m.Str("weights_digest", &s.model.weights_digest));
  RIB_RETURN_IF_ERROR(m.Int("num_classes", &s.model.num_classes));
  const FieldReader p = m.Child("preprocessing");
  Preprocessing& pp = s.model.preprocessing;
  RIB_RETURN_IF_ERROR(p.Check());
  RIB_RETURN_IF_ERROR(p.Int("image_size", &pp.image_size));
  RIB_RETURN_IF_ERROR(p.Real("crop_pct", &pp.crop_pct));
  RIB_RETURN_IF_ERROR(p.RealList("mean", &pp.mean));
  RIB_RETURN_IF_ERROR(p.RealList("std", &pp.std));
  RIB_RETURN_IF_ERROR(p.Str("interpolation", &pp.interpolation));
  const FieldReader me = r.Child("method");
  RIB_RETURN_IF_ERROR(me.Check());
  RIB_RETURN_IF_ERROR(me.Str("name", &s.method.name));
  RIB_RETURN_IF_ERROR(me.Str("kind", &s.method.kind));
  RIB_RETURN_IF_ERROR(me.StrMap("params", &s.method.params));
  RIB_RETURN_IF_ERROR(me.StrList("members", &s.method.members));
  RIB_RETURN_IF_ERROR(r.Str("finetune_dataset", &s.finetune_dataset));
  RIB_RETURN_IF_ERROR(r.StrList("eval_datasets", &s.eval_datasets));
  const FieldReader t = r.Child("training");
  TrainingConfig& tc = s.training;
  RIB_RETURN_IF_ERROR(t.Check());
  RIB_RETURN_IF_ERROR(t.Str("optimizer", &tc.optimizer));
  RIB_RETURN_IF_ERROR(t.Real("lr", &tc.lr));
  RIB_RETURN_IF_ERROR(t.Real("momentum", &tc.momentum));
  RIB_RETURN_IF_ERROR(t.Real("weight_decay", &tc.weight_decay));
  RIB_RETURN_IF_ERROR(t.Int("batch_size", &tc.batch_size));
  RIB_RETURN_IF_ERROR(t.Int("epochs", &tc.epochs));
  RIB_RETURN_IF_ERROR(t.Int("warmup_steps", &tc.warmup_steps));
  RIB_RETURN_IF_ERROR(t.Str("schedule", &tc.schedule));
  RIB_RETURN_IF_ERROR(t.Str("precision", &tc.precision));
  RIB_RETURN_IF_ERROR(t.Int("seed", &tc.seed));
  RIB_RETURN_IF_ERROR(t.Bool("skip_corrupt", &tc.skip_corrupt));
  RIB_RETURN_IF_ERROR(t.Int("max_steps", &tc.max_steps));
  RIB_RETURN_IF_ERROR(t.Int("eval_batch_size", &tc.eval_batch_size));
  RIB_RETURN_IF_ERROR(r.Str("split", &s.split));
  RIB_RETURN_IF_ERROR(r.Real("test_fraction", &s.test_fraction));
  RIB_RETURN_IF_ERROR(r.Int("devices", &s.devices));
  RIB_RETURN_IF_ERROR(r.Str("suite", &s.suite));
  RIB_RETURN_IF_ERROR(r.Str("objectnet_mode", &s.objectnet_mode));
  RIB_RETURN_IF_ERROR(r.StrMap("dependency_hashes", &s.dependency_hashes));
  return s;
}

}  // namespace rib::spec
