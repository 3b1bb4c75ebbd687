#include "server/storage/job_spec_codec.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "absl/strings/str_format.h"
#include "yaml-cpp/yaml.h"

namespace rib::storage {
namespace {


std::string Num(double v) { return absl::StrFormat("%.17g", v); }

std::string StrList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(&out, i ? "," : "", JsonQuote(v[i]));
  return out + "]";
}

std::string NumList(const std::vector<double>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(&out, i ? "," : "", Num(v[i]));
  return out + "]";
}

std::string StrMap(const std::map<std::string, std::string>& m) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : m) {
    absl::StrAppend(&out, first ? "" : ",", JsonQuote(k), ":", JsonQuote(v));
    first = false;
  }
  return out + "}";
}

template <typename T>
T Get(const YAML::Node& n, const char* key, T def) {
  const YAML::Node v = n[key];
  return v ? v.as<T>() : def;
}

std::vector<std::string> GetStrList(const YAML::Node& n, const char* key) {
  std::vector<std::string> out;
  for (const auto& e : n[key]) out.push_back(e.as<std::string>());
  return out;
}

std::map<std::string, std::string> GetStrMap(const YAML::Node& n, const char* key) {
  std::map<std::string, std::string> out;
  for (const auto& e : n[key])
    out[e.first.as<std::string>()] = e.second.as<std::string>();
  return out;
}

}  // namespace

std::string EncodeJobSpec(const JobSpec& s) {
  const ModelSpec& m = s.model;
  const Preprocessing& p = m.preprocessing;
  const TrainingConfig& t = s.training;
  std::string pre =
      absl::StrCat("{\"image_size\":", p.image_size, ",\"crop_pct\":", Num(p.crop_pct),
                   ",\"mean\":", NumList(p.mean), ",\"std\":", NumList(p.std),
                   ",\"interpolation\":", JsonQuote(p.interpolation), "}");
  std::string model = absl::StrCat(
      "{\"name\":", JsonQuote(m.name), ",\"arch\":", JsonQuote(m.arch),
      ",\"weights\":", JsonQuote(m.weights), ",\"weights_digest\":", JsonQuote(m.weights_digest),
      ",\"preprocessing\":", pre, ",\"num_classes\":", m.num_classes, "}");
  std::string method =
      absl::StrCat("{\"name\":", JsonQuote(s.method.name), ",\"kind\":", JsonQuote(s.method.kind),
                   ",\"params\":", StrMap(s.method.params),
                   ",\"members\":", StrList(s.method.members), "}");
  std::string training = absl::StrCat(
      "{\"optimizer\":", JsonQuote(t.optimizer), ",\"lr\":", Num(t.lr),
      ",\"momentum\":", Num(t.momentum), ",\"weight_decay\":", Num(t.weight_decay),
      ",\"batch_size\":", t.batch_size, ",\"epochs\":", t.epochs,
      ",\"warmup_steps\":", t.warmup_steps, ",\"schedule\":", JsonQuote(t.schedule),
      ",\"precision\":", JsonQuote(t.precision), ",\"seed\":", t.seed,
      ",\"skip_corrupt\":", t.skip_corrupt ? "true" : "false",
      ",\"max_steps\":", t.max_steps, ",\"eval_batch_size\":", t.eval_batch_size, "}");
  return absl::StrCat("{\"model\":", model, ",\"method\":", method,
                      ",\"finetune_dataset\":", JsonQuote(s.finetune_dataset),
                      ",\"eval_datasets\":", StrList(s.eval_datasets),
                      ",\"training\":", training, ",\"split\":", JsonQuote(s.split),
                      ",\"test_fraction\":", Num(s.test_fraction),
                      ",\"devices\":", s.devices, ",\"suite\":", JsonQuote(s.suite),
                      ",\"dependency_hashes\":", StrMap(s.dependency_hashes), "}");
}

absl::StatusOr<JobSpec> DecodeJobSpec(const std::string& json) {
  try {
    const YAML::Node root = YAML::Load(json);
    if (!root.IsMap()) return absl::InvalidArgumentError("job spec is not a JSON object");
    JobSpec s;
    const YAML::Node m = root["model"];
    s.model.name = Get<std::string>(m, "name", "");
    s.model.arch = Get<std::string>(m, "arch", "");
    s.model.weights = Get<std::string>(m, "weights", "");
    s.model.weights_digest = Get<std::string>(m, "weights_digest", "");
    s.model.num_classes = Get<int>(m, "num_classes", s.model.num_classes);
    const YAML::Node p = m["preprocessing"];
    Preprocessing& pp = s.model.preprocessing;
    pp.image_size = Get<int>(p, "image_size", pp.image_size);
    pp.crop_pct = Get<double>(p, "crop_pct", pp.crop_pct);
    if (p["mean"]) pp.mean = p["mean"].as<std::vector<double>>();
    if (p["std"]) pp.std = p["std"].as<std::vector<double>>();
    pp.interpolation = Get<std::string>(p, "interpolation", pp.interpolation);
    const YAML::Node me = root["method"];
    s.method.name = Get<std::string>(me, "name", "");
    s.method.kind = Get<std::string>(me, "kind", "");
    s.method.params = GetStrMap(me, "params");
    s.method.members = GetStrList(me, "members");
    s.finetune_dataset = Get<std::string>(root, "finetune_dataset", "");
    s.eval_datasets = GetStrList(root, "eval_datasets");
    const YAML::Node t = root["training"];
    TrainingConfig& tc = s.training;
    tc.optimizer = Get<std::string>(t, "optimizer", tc.optimizer);
    tc.lr = Get<double>(t, "lr", tc.lr);
    tc.momentum = Get<double>(t, "momentum", tc.momentum);
    tc.weight_decay = Get<double>(t, "weight_decay", tc.weight_decay);
    tc.batch_size = Get<int>(t, "batch_size", tc.batch_size);
    tc.epochs = Get<int>(t, "epochs", tc.epochs);
    tc.warmup_steps = Get<int>(t, "warmup_steps", tc.warmup_steps);
    tc.schedule = Get<std::string>(t, "schedule", tc.schedule);
    tc.precision = Get<std::string>(t, "precision", tc.precision);
    tc.seed = Get<int64_t>(t, "seed", tc.seed);
    tc.skip_corrupt = Get<bool>(t, "skip_corrupt", tc.skip_corrupt);
    tc.max_steps = Get<int>(t, "max_steps", tc.max_steps);
    tc.eval_batch_size = Get<int>(t, "eval_batch_size", tc.eval_batch_size);
    s.split = Get<std::string>(root, "split", s.split);
    s.test_fraction = Get<double>(root, "test_fraction", s.test_fraction);
    s.devices = Get<int>(root, "devices", s.devices);
    s.suite = Get<std::string>(root, "suite", s.suite);
    s.dependency_hashes = GetStrMap(root, "dependency_hashes");
    return s;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed job spec JSON: ", e.what()));
  }
}

}  // namespace rib::storage
