// rib-run: one benchmark cell on this machine, no coordinator (DESIGN §2).
//
//   rib-run --data-root D --weights W.safetensors --arch fmnist_vit --method lora \
//           --param rank=4,alpha=8 --finetune fmnist-sketch [--eval a,b,...]
//   rib-run --sweep demo.yaml --cell vit/lpft/fmnist-r --data-root D
//   rib-run --sweep byo.yaml --cell vit/pre --hf-cache ~/.cache/huggingface/hub ...
//
// Progress goes to stderr, the results as one JSON object to stdout. Dependencies
// (lpft → lp, wise-ft → ft, soup → members) are run first unless given with
// --dep name=path; their weights are cached under --out by job hash.
// Flag names accept '-' or '_' (--data-root = --data_root).
//
// SIGINT or SIGTERM stops the job at the next step boundary (or between eval
// datasets): with --checkpoints the training state is checkpointed there, the path is
// printed, and rib-run exits with status 75 (EX_TEMPFAIL, "drained"); --resume=PATH
// finishes the job. A second signal ends the process at once.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
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
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/hash.h"
#include "common/json.h"
#include "common/log.h"
#include "common/program.h"
#include "common/robustness.h"
#include "common/status_macros.h"
#include "spec/artifacts.h"
#include "spec/hf_hub.h"
#include "spec/job_json.h"
#include "spec/methods.h"
#include "spec/preprocessing.h"
#include "spec/suites.h"
#include "spec/sweep.h"
#include "worker/data/eval_cache_stats.h"
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
ABSL_FLAG(bool, checkpoints, false,
          "write checkpoints (per epoch, and where SIGINT/SIGTERM stops) under "
          "--out/checkpoints");
ABSL_FLAG(std::string, resume, "", "resume training from this checkpoint");
ABSL_FLAG(std::string, sweep, "", "sweep file: take the cell from it");
ABSL_FLAG(std::string, cell, "", "with --sweep: model/method/dataset (or model/pre)");
ABSL_FLAG(std::string, hf_cache, "",
          "with --sweep: the Hugging Face hub cache that `weights: hf-hub:ORG/NAME[@REV]` "
          "is resolved and read in, as the coordinator's --hf-cache (never downloaded); "
          "default $HF_HOME/hub, else ~/.cache/huggingface/hub");
ABSL_FLAG(std::string, cache_root, "",
          "evaluation cache folder (rib-worker's --cache-root): each eval dataset's "
          "decoded and resized pixels, kept for later runs; empty (default) = none");
ABSL_FLAG(double, cache_max_gb, 20.0, "size bound of --cache-root in GiB");

namespace rib {
namespace {

// Exit status of a run stopped on request (sysexits.h's EX_TEMPFAIL): try again later,
// from the checkpoint.
constexpr int kExitStopped = 75;

// Set by the signal handler, read by the training loop and evaluation.
std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free,
              "the signal handler may only touch a lock-free atomic");

extern "C" void OnStopSignal(int) { stop_requested.store(true); }

// SA_RESETHAND: the first signal asks for a clean stop, a second one (the default
// action) ends the process, for when the stop takes too long.
void InstallStopHandlers() {
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// Says where a stopped job can be resumed from; returns the exit status.
int ReportStopped(const std::string& tag, const engine::RunResult& result) {
  if (result.checkpoint.empty()) {
    std::fprintf(stderr,
                 "[%s] stopped on request after %lld steps; no checkpoint was written "
                 "(run with --checkpoints to be able to resume)\n",
                 tag.c_str(), static_cast<long long>(result.steps));
  } else {
    std::fprintf(
        stderr, "[%s] stopped on request after %lld steps; resume with --resume=%s\n",
        tag.c_str(), static_cast<long long>(result.steps), result.checkpoint.c_str());
  }
  return kExitStopped;
}

// Dependencies run without checkpoints (--resume is the main job's): a stopped one
// starts again on the next run.
int ReportDependencyStopped(const std::string& name, const engine::RunResult& result) {
  std::fprintf(stderr,
               "[%s] dependency stopped on request after %lld steps; the next run starts "
               "it again\n",
               name.c_str(), static_cast<long long>(result.steps));
  return kExitStopped;
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
  void OnDistance(const DatasetDistanceRow& d) override {
    std::fprintf(stderr, "[%s] otdd %s -> %s: %.6g (%lld / %lld examples, eps %g%s)\n",
                 tag_.c_str(), d.source_dataset.c_str(), d.target_dataset.c_str(),
                 d.distance, static_cast<long long>(d.source_examples),
                 static_cast<long long>(d.target_examples), d.epsilon,
                 d.converged ? "" : ", not converged");
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
  spec.model.preprocessing = rib::spec::DefaultPreprocessing(spec.model.arch);
  spec.model.num_classes = absl::GetFlag(FLAGS_num_classes) > 0
                               ? absl::GetFlag(FLAGS_num_classes)
                               : rib::spec::SuiteDefaultNumClasses(spec.suite);
  if (rib::spec::IsHubWeights(spec.model.weights)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--weights=", spec.model.weights,
        ": hub weights are resolved from a sweep file (--sweep FILE --cell ... "
        "--hf-cache DIR); without one, give the snapshot's model.safetensors and --arch"));
  }
  if (!spec.model.weights.empty()) {
    RIB_ASSIGN_OR_RETURN(spec.model.weights_digest, Sha256File(spec.model.weights));
  }
  spec.method.kind = absl::GetFlag(FLAGS_method);
  spec.method.name = spec.method.kind;
  RIB_ASSIGN_OR_RETURN(spec.method.params, ParsePairs(absl::GetFlag(FLAGS_param), "param"));
  if (spec.method.kind == "soup") spec.method.members = absl::GetFlag(FLAGS_members);
  RIB_RETURN_IF_ERROR(rib::spec::ValidateMethod(spec.method));
  spec.eval_datasets = absl::GetFlag(FLAGS_eval);
  if (spec.eval_datasets.empty())
    spec.eval_datasets = rib::spec::SuiteEvalDatasets(spec.suite);
  if (spec.method.kind != "pre") {
    spec.finetune_dataset = absl::GetFlag(FLAGS_finetune);
    if (spec.finetune_dataset.empty()) {
      const std::vector<std::string> downstream =
          rib::spec::SuiteDownstreamDatasets(spec.suite);
      if (downstream.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown suite '", spec.suite, "' (expected one of ",
                         absl::StrJoin(rib::spec::KnownSuites(), ", "), ")"));
      }
      spec.finetune_dataset = downstream.front();
    }
  }
  RIB_RETURN_IF_ERROR(ApplyOverrides(&spec.training, &spec.split));
  // Dependencies: the same cell with the dependency's method.
  std::vector<std::string> needs;
  const std::string dependency = rib::spec::MethodDependencyKind(spec.method.kind);
  if (!dependency.empty()) needs = {dependency};
  if (spec.method.kind == "soup") needs = spec.method.members;
  for (const std::string& kind : needs) {
    JobSpec dep = spec;
    dep.method = MethodSpec{kind, kind};
    plan.dependencies.emplace_back(kind, dep);
  }
  return plan;
}

// Hub models resolve exactly as on the coordinator (spec::ResolveHubModels: arch,
// num_classes and preprocessing from the snapshot's config.json), but rib-run reads the
// snapshot in the cache itself rather than in an artifact root's hf-hub/ mirror. A job's
// hash covers the weights' digest, not their path, so the cell is the coordinator's job.
absl::Status ResolveHubWeights(rib::spec::SweepSpec* sweep) {
  if (sweep->hub_models.empty()) return absl::OkStatus();
  std::string cache = absl::GetFlag(FLAGS_hf_cache);
  if (cache.empty()) {
    cache = rib::spec::DefaultHubCacheDir(std::getenv("HF_HOME"), std::getenv("HOME"));
  }
  RIB_ASSIGN_OR_RETURN(std::vector<rib::spec::ResolvedHubModel> resolved,
                       rib::spec::ResolveHubModels(cache, sweep));
  for (const rib::spec::ResolvedHubModel& r : resolved) {
    for (ModelSpec& model : sweep->models) {
      if (model.name == r.model) {
        model.weights = absl::StrCat(cache, "/", r.snapshot.weights_path);
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CellPlan> PlanFromSweep() {
  const std::string file = absl::GetFlag(FLAGS_sweep);
  std::ifstream in(file);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read sweep file ", file));
  std::stringstream text;
  text << in.rdbuf();
  RIB_ASSIGN_OR_RETURN(rib::spec::SweepSpec sweep,
                       rib::spec::ParseSweepYaml(text.str(), file));
  RIB_RETURN_IF_ERROR(ApplyOverrides(&sweep.training, &sweep.split));
  RIB_RETURN_IF_ERROR(ResolveHubWeights(&sweep));
  for (ModelSpec& model : sweep.models) {
    if (!model.weights.empty() && model.weights_digest.empty()) {
      RIB_ASSIGN_OR_RETURN(model.weights_digest, Sha256File(model.weights));
    }
  }
  RIB_ASSIGN_OR_RETURN(std::vector<rib::spec::PlannedJob> jobs,
                       rib::spec::ExpandSweep(sweep));
  std::map<std::string, const rib::spec::PlannedJob*> by_key;
  for (const rib::spec::PlannedJob& job : jobs) by_key[job.key] = &job;
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
    const rib::spec::PlannedJob* dep = by_key.at(key);
    plan.dependencies.emplace_back(dep->spec.method.name, dep->spec);
  }
  return plan;
}

// Runs one job with its outputs at their place in the artifact layout under `out`.
absl::StatusOr<engine::RunResult> RunOne(const JobSpec& spec, engine::RunOptions options,
                                         const std::string& out, bool checkpoints,
                                         const std::string& tag) {
  const rib::spec::JobOutputs outputs =
      rib::spec::JobOutputPaths(out, rib::spec::JobHash(spec));
  options.weights_out = outputs.weights;
  options.extra_weights_out = outputs.extra_weights;
  if (checkpoints) options.checkpoint_dir = outputs.checkpoint_dir;
  StderrSink sink(tag);
  std::fprintf(stderr, "[%s] %s %s on %s (job %s)\n", tag.c_str(),
               spec.model.arch.c_str(), spec.method.kind.c_str(),
               spec.finetune_dataset.empty() ? "-" : spec.finetune_dataset.c_str(),
               rib::spec::JobHash(spec).substr(0, 12).c_str());
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
  options.stop = &stop_requested;
  options.data_root = absl::GetFlag(FLAGS_data_root);
  options.device = absl::GetFlag(FLAGS_device);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.eval_cache_root = absl::GetFlag(FLAGS_cache_root);
  if (!rib::data::EvalCacheBytesFromGib(absl::GetFlag(FLAGS_cache_max_gb),
                                         &options.eval_cache_max_bytes)) {
    std::fprintf(stderr, "rib-run: --cache-max-gb must be a positive size in GiB, got %g\n",
                 absl::GetFlag(FLAGS_cache_max_gb));
    return 2;
  }
  auto deps = ParsePairs(absl::GetFlag(FLAGS_dep), "dep");
  if (!deps.ok()) {
    std::fprintf(stderr, "rib-run: %s\n", deps.status().ToString().c_str());
    return 2;
  }
  options.dependency_weights = *deps;

  JsonValue deps_json = JsonValue::Array();
  for (const auto& [name, dep_spec] : plan->dependencies) {
    if (options.dependency_weights.count(name)) continue;
    const std::string cached = rib::spec::WeightsPath(out, rib::spec::JobHash(dep_spec));
    bool reused = std::filesystem::exists(cached);
    if (reused) {
      std::fprintf(stderr, "[%s] reusing %s\n", name.c_str(), cached.c_str());
    } else {
      engine::RunOptions dep_options = options;
      dep_options.dependency_weights.clear();
      auto result = RunOne(dep_spec, dep_options, out, /*checkpoints=*/false, name);
      if (!result.ok()) {
        std::fprintf(stderr, "rib-run: dependency %s: %s\n", name.c_str(),
                     result.status().ToString().c_str());
        return 1;
      }
      if (result->stopped) return ReportDependencyStopped(name, *result);
    }
    options.dependency_weights[name] = cached;
    deps_json.Append(JsonValue::Object()
                         .Set("method", JsonValue::String(name))
                         .Set("weights", JsonValue::String(cached))
                         .Set("cached", JsonValue::Bool(reused)));
  }
  const JobSpec& spec = plan->spec;
  options.resume_checkpoint = absl::GetFlag(FLAGS_resume);
  auto result =
      RunOne(spec, options, out, absl::GetFlag(FLAGS_checkpoints), spec.method.name);
  if (!result.ok()) {
    std::fprintf(stderr, "rib-run: %s\n", result.status().ToString().c_str());
    return 1;
  }
  if (result->stopped) return ReportStopped(spec.method.name, *result);

  // Dataset accuracies (ImageNet-C style sets: the mean over their subsets).
  std::map<std::string, std::vector<SubsetCount>> by_dataset;
  std::vector<std::string> order;
  for (const auto& row : result->results) {
    if (!by_dataset.count(row.dataset)) order.push_back(row.dataset);
    by_dataset[row.dataset].push_back(SubsetCount{row.subset, row.correct, row.total});
  }
  JsonValue acc_json = JsonValue::Object();
  JsonValue rows_json = JsonValue::Array();
  std::fprintf(stderr, "[%s] accuracy:", spec.method.name.c_str());
  for (const std::string& dataset : order) {
    absl::StatusOr<double> acc = DatasetAccuracy(by_dataset[dataset]);
    acc_json.Set(dataset, acc.ok()
                              ? JsonValue::NumberLiteral(absl::StrFormat("%.6f", *acc))
                              : JsonValue::Null());
    std::fprintf(stderr, " %s=%s", dataset.c_str(),
                 acc.ok() ? absl::StrFormat("%.2f%%", 100 * *acc).c_str() : "n/a");
  }
  std::fprintf(stderr, "\n");
  for (const auto& row : result->results) {
    rows_json.Append(JsonValue::Object()
                         .Set("dataset", JsonValue::String(row.dataset))
                         .Set("subset", JsonValue::String(row.subset))
                         .Set("correct", JsonValue::Int(row.correct))
                         .Set("total", JsonValue::Int(row.total))
                         .Set("skipped", JsonValue::Int(row.skipped)));
  }
  JsonValue report = JsonValue::Object();
  report.Set("model", JsonValue::String(spec.model.arch))
      .Set("weights", JsonValue::String(spec.model.weights))
      .Set("method", JsonValue::String(spec.method.kind))
      .Set("finetune", JsonValue::String(spec.finetune_dataset))
      .Set("job_hash", JsonValue::String(rib::spec::JobHash(spec)))
      .Set("result_weights", JsonValue::String(result->weights_path))
      .Set("steps", JsonValue::Int(result->steps))
      .Set("final_loss",
           JsonValue::NumberLiteral(absl::StrFormat("%.6f", result->final_loss)))
      .Set("dependencies", std::move(deps_json))
      .Set("accuracy", std::move(acc_json))
      .Set("rows", std::move(rows_json));
  JsonWriteOptions pretty;
  pretty.indent = 2;
  std::cout << WriteJson(report, pretty) << "\n";
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
      "Progress goes to stderr, the results as one JSON object to stdout.\n"
      "SIGINT or SIGTERM stops the job at the next step (with --checkpoints, at a\n"
      "checkpoint to --resume from) and exits with status 75; a second one ends it.",
      {"rib-run --data-root=state/data --arch=fmnist_resnet "
       "--weights=state/artifacts/models/fmnist_resnet_plain.safetensors --method=lp "
       "--finetune=fmnist-sketch --max-steps=50",
       "rib-run --data-root=state/data --sweep=scripts/demo_sweep.yaml "
       "--cell=resnet-plain/lpft/fmnist-r"}};
  rib::ParseFlagsOrExit(help, argc, argv);
  rib::SetLogTag("rib-run");
  if (absl::GetFlag(FLAGS_data_root).empty()) {
    std::fprintf(stderr, "rib-run: --data-root is required\n");
    return 2;
  }
  rib::InstallStopHandlers();
  return rib::Main();
}
