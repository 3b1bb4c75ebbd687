// rib-run: one benchmark cell on this machine, no coordinator (DESIGN §2).
//
//   rib-run --data-root D --weights W.safetensors --arch fmnist_vit --method lora \
//           --param rank=4,alpha=8 --finetune fmnist-sketch [--eval a,b,...]
//   rib-run --sweep demo.yaml --cell vit/lpft/fmnist-r --data-root D
//
// Progress goes to stderr, the results as one JSON object to stdout. Dependencies
// (lpft → lp, wise-ft → ft, soup → members) are run first unless given with
// --dep name=path; their weights are cached under --out by job hash.
// Flag names accept '-' or '_' (--data-root = --data_root).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/program.h"
#include "common/status_macros.h"
#include "common/sweep.h"
#include "worker/engine/methods.h"
#include "worker/engine/runner.h"

ABSL_FLAG(std::string, arch, "fmnist_vit", "model architecture");
ABSL_FLAG(std::string, weights, "", "pre-trained weights (.safetensors); empty = random init");
ABSL_FLAG(int, num_classes, 0, "model classes (0 = the suite's: 10 or 1000)");
ABSL_FLAG(std::string, method, "ft", "method kind: pre ft lp lpft lora vp lwf ewc l2sp wise-ft soup");
ABSL_FLAG(std::vector<std::string>, param, {}, "method parameters, k=v[,k=v...]");
ABSL_FLAG(std::vector<std::string>, members, {"ft"}, "soup: member methods");
ABSL_FLAG(std::vector<std::string>, dep, {}, "dependency weights, method=path[,...]");
ABSL_FLAG(std::string, finetune, "", "fine-tune dataset (default: the suite's first shift)");
ABSL_FLAG(std::vector<std::string>, eval, {}, "eval datasets (default: the suite's 9)");
ABSL_FLAG(std::string, suite, "fmnist-rib", "fmnist-rib or imagenet-rib");
ABSL_FLAG(std::string, data_root, "", "dataset root (required)");
ABSL_FLAG(std::string, out, "rib-run-out", "folder for weights/ and checkpoints/");
ABSL_FLAG(int, epochs, -1, "training epochs (default 10)");
ABSL_FLAG(std::string, optimizer, "", "sgd (default) or adamw");
ABSL_FLAG(double, lr, -1, "learning rate (default 1e-3)");
ABSL_FLAG(int, batch_size, -1, "global batch size (default 64)");
ABSL_FLAG(int, max_steps, -1, "cap on optimiser steps (0 = none)");
ABSL_FLAG(int, warmup_steps, -1, "linear warm-up steps (default 196)");
ABSL_FLAG(int64_t, seed, -1, "seed (default 0)");
ABSL_FLAG(std::string, precision, "", "auto, fp32, fp16 or bf16");
ABSL_FLAG(std::string, split, "", "heldout (default) or reference");
ABSL_FLAG(int, threads, 0, "torch and decoding threads (0 = default)");
ABSL_FLAG(std::string, device, "cpu", "cpu, cuda or cuda:N");
ABSL_FLAG(bool, checkpoints, false, "write per-epoch checkpoints under --out/checkpoints");
ABSL_FLAG(std::string, resume, "", "resume training from this checkpoint");
ABSL_FLAG(std::string, sweep, "", "sweep file: take the cell from it");
ABSL_FLAG(std::string, cell, "", "with --sweep: model/method/dataset (or model/pre)");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning, error");

namespace rib {
namespace {

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

class StderrSink : public engine::EventSink {
 public:
  explicit StderrSink(std::string tag) : tag_(std::move(tag)) {}
  void OnProgress(int epoch, int epochs, int64_t step, int64_t steps, double loss,
                  double lr) override {
    std::fprintf(stderr, "[%s] epoch %d/%d step %lld/%lld loss %.4f lr %.3g\n", tag_.c_str(),
                 epoch + 1, epochs, static_cast<long long>(step),
                 static_cast<long long>(steps), loss, lr);
  }
  void OnResult(const std::string& dataset, const std::string& subset, int64_t correct,
                int64_t total, int64_t skipped) override {
    if (!subset.empty()) {
      RIB_LOG(DEBUG) << tag_ << " " << dataset << " " << subset << ": " << correct << "/"
                     << total;
      return;
    }
    std::fprintf(stderr, "[%s] %s: %lld/%lld = %.2f%%%s\n", tag_.c_str(), dataset.c_str(),
                 static_cast<long long>(correct), static_cast<long long>(total),
                 total > 0 ? 100.0 * correct / total : 0.0,
                 skipped > 0 ? absl::StrCat(" (", skipped, " skipped)").c_str() : "");
  }
  void OnCheckpoint(const std::string& path) override {
    std::fprintf(stderr, "[%s] checkpoint %s\n", tag_.c_str(), path.c_str());
  }

 private:
  std::string tag_;
};

// One job to run, with the jobs it depends on (run first).
struct CellPlan {
  JobSpec spec;
  std::vector<std::pair<std::string, JobSpec>> dependencies;  // method name → spec
};

absl::Status ApplyOverrides(TrainingConfig* t, std::string* split) {
  if (absl::GetFlag(FLAGS_epochs) >= 0) t->epochs = absl::GetFlag(FLAGS_epochs);
  if (!absl::GetFlag(FLAGS_optimizer).empty())
    t->optimizer = absl::GetFlag(FLAGS_optimizer);
  if (absl::GetFlag(FLAGS_lr) >= 0) t->lr = absl::GetFlag(FLAGS_lr);
  if (absl::GetFlag(FLAGS_batch_size) >= 0) t->batch_size = absl::GetFlag(FLAGS_batch_size);
  if (absl::GetFlag(FLAGS_max_steps) >= 0) t->max_steps = absl::GetFlag(FLAGS_max_steps);
  if (absl::GetFlag(FLAGS_warmup_steps) >= 0) {
    t->warmup_steps = absl::GetFlag(FLAGS_warmup_steps);
  }
  if (absl::GetFlag(FLAGS_seed) >= 0) t->seed = absl::GetFlag(FLAGS_seed);
  if (!absl::GetFlag(FLAGS_precision).empty()) t->precision = absl::GetFlag(FLAGS_precision);
  if (!absl::GetFlag(FLAGS_split).empty()) *split = absl::GetFlag(FLAGS_split);
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::string>> ParsePairs(
    const std::vector<std::string>& items, const std::string& flag) {
  std::map<std::string, std::string> out;
  for (const std::string& item : items) {
    if (item.empty()) continue;
    std::vector<std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": expected key=value, got '", item, "'"));
    }
    out[kv[0]] = kv[1];
  }
  return out;
}

absl::StatusOr<CellPlan> PlanFromFlags() {
  CellPlan plan;
  JobSpec& spec = plan.spec;
  spec.suite = absl::GetFlag(FLAGS_suite);
  spec.model.name = "model";
  spec.model.arch = absl::GetFlag(FLAGS_arch);
  spec.model.weights = absl::GetFlag(FLAGS_weights);
  spec.model.preprocessing = DefaultPreprocessing(spec.model.arch);
  spec.model.num_classes = absl::GetFlag(FLAGS_num_classes) > 0
                               ? absl::GetFlag(FLAGS_num_classes)
                               : (spec.suite == "fmnist-rib" ? 10 : 1000);
  if (!spec.model.weights.empty()) {
    RIB_ASSIGN_OR_RETURN(spec.model.weights_digest, Sha256File(spec.model.weights));
  }
  spec.method.kind = absl::GetFlag(FLAGS_method);
  spec.method.name = spec.method.kind;
  RIB_ASSIGN_OR_RETURN(spec.method.params, ParsePairs(absl::GetFlag(FLAGS_param), "param"));
  if (spec.method.kind == "soup") spec.method.members = absl::GetFlag(FLAGS_members);
  RIB_RETURN_IF_ERROR(engine::ValidateMethod(spec.method));
  spec.eval_datasets = absl::GetFlag(FLAGS_eval);
  if (spec.eval_datasets.empty()) spec.eval_datasets = SuiteEvalDatasets(spec.suite);
  if (spec.method.kind != "pre") {
    spec.finetune_dataset = absl::GetFlag(FLAGS_finetune);
    if (spec.finetune_dataset.empty()) {
      spec.finetune_dataset = SuiteDownstreamDatasets(spec.suite).at(0);
    }
  }
  RIB_RETURN_IF_ERROR(ApplyOverrides(&spec.training, &spec.split));
  // Dependencies: the same cell with the dependency's method.
  std::vector<std::string> needs;
  if (spec.method.kind == "lpft") needs = {"lp"};
  if (spec.method.kind == "wise-ft") needs = {"ft"};
  if (spec.method.kind == "soup") needs = spec.method.members;
  for (const std::string& kind : needs) {
    JobSpec dep = spec;
    dep.method = MethodSpec{kind, kind};
    plan.dependencies.emplace_back(kind, dep);
  }
  return plan;
}

absl::StatusOr<CellPlan> PlanFromSweep() {
  const std::string file = absl::GetFlag(FLAGS_sweep);
  std::ifstream in(file);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read sweep file ", file));
  std::stringstream text;
  text << in.rdbuf();
  RIB_ASSIGN_OR_RETURN(SweepSpec sweep, ParseSweepYaml(text.str(), file));
  RIB_RETURN_IF_ERROR(ApplyOverrides(&sweep.training, &sweep.split));
  for (ModelSpec& model : sweep.models) {
    if (!model.weights.empty() && model.weights_digest.empty()) {
      RIB_ASSIGN_OR_RETURN(model.weights_digest, Sha256File(model.weights));
    }
  }
  RIB_ASSIGN_OR_RETURN(std::vector<PlannedJob> jobs, ExpandSweep(sweep));
  std::map<std::string, const PlannedJob*> by_key;
  for (const PlannedJob& job : jobs) by_key[job.key] = &job;
  auto it = by_key.find(absl::GetFlag(FLAGS_cell));
  if (it == by_key.end()) {
    std::string keys;
    for (const auto& job : jobs) absl::StrAppend(&keys, keys.empty() ? "" : ", ", job.key);
    return absl::NotFoundError(absl::StrCat("no cell '", absl::GetFlag(FLAGS_cell),
                                            "' in ", file, " (cells: ", keys, ")"));
  }
  CellPlan plan;
  plan.spec = it->second->spec;
  for (const std::string& key : it->second->depends_on) {
    const PlannedJob* dep = by_key.at(key);
    plan.dependencies.emplace_back(dep->spec.method.name, dep->spec);
  }
  return plan;
}

absl::StatusOr<engine::RunResult> RunOne(const JobSpec& spec, engine::RunOptions options,
                                         const std::string& tag) {
  StderrSink sink(tag);
  std::fprintf(stderr, "[%s] %s %s on %s (job %s)\n", tag.c_str(), spec.model.arch.c_str(),
               spec.method.kind.c_str(),
               spec.finetune_dataset.empty() ? "-" : spec.finetune_dataset.c_str(),
               JobHash(spec).substr(0, 12).c_str());
  return engine::RunJob(spec, options, &sink);
}

int Main() {
  const bool from_sweep = !absl::GetFlag(FLAGS_sweep).empty();
  absl::StatusOr<CellPlan> plan = from_sweep ? PlanFromSweep() : PlanFromFlags();
  if (!plan.ok()) {
    std::fprintf(stderr, "rib-run: %s\n", plan.status().ToString().c_str());
    return 2;
  }
  const std::string out = absl::GetFlag(FLAGS_out);
  engine::RunOptions options;
  options.data_root = absl::GetFlag(FLAGS_data_root);
  options.weights_out_dir = out + "/weights";
  options.device = absl::GetFlag(FLAGS_device);
  options.threads = absl::GetFlag(FLAGS_threads);
  auto deps = ParsePairs(absl::GetFlag(FLAGS_dep), "dep");
  if (!deps.ok()) {
    std::fprintf(stderr, "rib-run: %s\n", deps.status().ToString().c_str());
    return 2;
  }
  options.dependency_weights = *deps;

  std::string deps_json;
  for (const auto& [name, dep_spec] : plan->dependencies) {
    if (options.dependency_weights.count(name)) continue;
    const std::string cached = absl::StrCat(out, "/weights/", JobHash(dep_spec), ".safetensors");
    bool reused = std::filesystem::exists(cached);
    if (reused) {
      std::fprintf(stderr, "[%s] reusing %s\n", name.c_str(), cached.c_str());
    } else {
      engine::RunOptions dep_options = options;
      dep_options.dependency_weights.clear();
      auto result = RunOne(dep_spec, dep_options, name);
      if (!result.ok()) {
        std::fprintf(stderr, "rib-run: dependency %s: %s\n", name.c_str(),
                     result.status().ToString().c_str());
        return 1;
      }
    }
    options.dependency_weights[name] = cached;
    absl::StrAppend(&deps_json, deps_json.empty() ? "" : ", ", "{\"method\": ",
                    JsonString(name), ", \"weights\": ", JsonString(cached),
                    ", \"cached\": ", reused ? "true" : "false", "}");
  }
  const JobSpec& spec = plan->spec;
  if (absl::GetFlag(FLAGS_checkpoints)) {
    options.checkpoint_dir = absl::StrCat(out, "/checkpoints/", JobHash(spec));
  }
  options.resume_checkpoint = absl::GetFlag(FLAGS_resume);
  auto result = RunOne(spec, options, spec.method.name);
  if (!result.ok()) {
    std::fprintf(stderr, "rib-run: %s\n", result.status().ToString().c_str());
    return 1;
  }

  // Dataset accuracies (ImageNet-C style sets: the mean over their subsets).
  std::map<std::string, std::vector<SubsetCount>> by_dataset;
  std::vector<std::string> order;
  for (const auto& row : result->results) {
    if (!by_dataset.count(row.dataset)) order.push_back(row.dataset);
    by_dataset[row.dataset].push_back(SubsetCount{row.subset, row.correct, row.total});
  }
  std::string acc_json, rows_json;
  std::fprintf(stderr, "[%s] accuracy:", spec.method.name.c_str());
  for (const std::string& dataset : order) {
    absl::StatusOr<double> acc = DatasetAccuracy(by_dataset[dataset]);
    const std::string value = acc.ok() ? absl::StrFormat("%.6f", *acc) : "null";
    absl::StrAppend(&acc_json, acc_json.empty() ? "" : ", ", JsonString(dataset), ": ", value);
    std::fprintf(stderr, " %s=%s", dataset.c_str(),
                 acc.ok() ? absl::StrFormat("%.2f%%", 100 * *acc).c_str() : "n/a");
  }
  std::fprintf(stderr, "\n");
  for (const auto& row : result->results) {
    absl::StrAppend(&rows_json, rows_json.empty() ? "" : ",\n    ", "{\"dataset\": ",
                    JsonString(row.dataset), ", \"subset\": ", JsonString(row.subset),
                    ", \"correct\": ", row.correct, ", \"total\": ", row.total,
                    ", \"skipped\": ", row.skipped, "}");
  }
  std::cout << "{\n  \"model\": " << JsonString(spec.model.arch)
            << ",\n  \"weights\": " << JsonString(spec.model.weights)
            << ",\n  \"method\": " << JsonString(spec.method.kind)
            << ",\n  \"finetune\": " << JsonString(spec.finetune_dataset)
            << ",\n  \"job_hash\": " << JsonString(JobHash(spec))
            << ",\n  \"result_weights\": " << JsonString(result->weights_path)
            << ",\n  \"steps\": " << result->steps << ",\n  \"final_loss\": "
            << absl::StrFormat("%.6f", result->final_loss) << ",\n  \"dependencies\": ["
            << deps_json << "],\n  \"accuracy\": {" << acc_json << "},\n  \"rows\": [\n    "
            << rows_json << "\n  ]\n}\n";
  return 0;
}

}  // namespace
}  // namespace rib

int main(int argc, char** argv) {
  const rib::ProgramHelp help = {
      "rib-run",
      "--data-root DIR [--arch A --weights W.safetensors | --sweep FILE --cell "
      "MODEL/METHOD/DATASET] [flags]",
      "Fine-tunes and evaluates one benchmark cell on this machine, with no\n"
      "coordinator: the model is fine-tuned with the method on one dataset and\n"
      "evaluated on the others. Dependencies (lpft needs lp, wise-ft needs ft, soup its\n"
      "members) are run first unless given with --dep, and cached under --out by job\n"
      "hash.\n"
      "Progress goes to stderr, the results as one JSON object to stdout.",
      {"rib-run --data-root=state/data --arch=fmnist_resnet "
       "--weights=state/artifacts/models/fmnist_resnet_plain.safetensors --method=lp "
       "--finetune=fmnist-sketch --max-steps=50",
       "rib-run --data-root=state/data --sweep=scripts/demo_sweep.yaml "
       "--cell=resnet-plain/lpft/fmnist-r"}};
  rib::ParseFlagsOrExit(help, argc, argv);
  rib::LogLevel level;
  if (!rib::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::fprintf(stderr, "rib-run: unknown --log-level\n");
    return 2;
  }
  rib::SetLogLevel(level);
  rib::SetLogTag("rib-run");
  if (absl::GetFlag(FLAGS_data_root).empty()) {
    std::fprintf(stderr, "rib-run: --data-root is required\n");
    return 2;
  }
  return rib::Main();
}
