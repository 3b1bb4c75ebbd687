// rib-pretrain: pre-trains the embedded suite's two models (plain and rich) on
// fmnist-train, saves them as safetensors and prints their fmnist-val accuracy.
// Cached: a model whose file exists with the same config hash is not retrained.
//
//   rib-pretrain --data-root D --out DIR [--threads 2] [--force]
//                [--only NAME[,NAME...]] [--set key=value,...]
//
// --set changes a field of every recipe run (arch, train_examples, epochs, optimizer,
// batch_size, lr, warmup_steps, weight_decay, augment, seed): for tuning the recipes into
// a scratch
// --out; the config hash in the file records what was trained.
#include <algorithm>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/program.h"
#include "worker/engine/pretrain.h"

ABSL_FLAG(std::string, data_root, "", "dataset root (FMNIST-RIB is built there on first use)");
ABSL_FLAG(std::string, out, "", "output folder for <name>.safetensors");
ABSL_FLAG(int, threads, 0, "torch threads (0 = default)");
ABSL_FLAG(bool, force, false, "retrain even when cached");
ABSL_FLAG(std::vector<std::string>, only, {},
          "run only these recipes (names, comma-separated)");
ABSL_FLAG(std::vector<std::string>, set, {},
          "recipe overrides, key=value[,key=value...]");

namespace {

// Applies one "key=value" override; false with `error` set when it is not one.
bool ApplyOverride(const std::string& item, rib::engine::PretrainRecipe* r,
                   std::string* error) {
  std::pair<std::string, std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
  const std::string& key = kv.first;
  const std::string& value = kv.second;
  bool ok = true;
  if (key == "arch") {
    r->arch = value;
  } else if (key == "optimizer") {
    r->optimizer = value;
  } else if (key == "augment") {
    r->augment = value;
  } else if (key == "train_examples") {
    ok = absl::SimpleAtoi(value, &r->train_examples);
  } else if (key == "epochs") {
    ok = absl::SimpleAtoi(value, &r->epochs);
  } else if (key == "batch_size") {
    ok = absl::SimpleAtoi(value, &r->batch_size);
  } else if (key == "warmup_steps") {
    ok = absl::SimpleAtoi(value, &r->warmup_steps);
  } else if (key == "seed") {
    ok = absl::SimpleAtoi(value, &r->seed);
  } else if (key == "lr") {
    ok = absl::SimpleAtod(value, &r->lr);
  } else if (key == "weight_decay") {
    ok = absl::SimpleAtod(value, &r->weight_decay);
  } else {
    *error = absl::StrCat("--set: unknown recipe field '", key, "'");
    return false;
  }
  if (!ok) *error = absl::StrCat("--set: bad value '", value, "' for ", key);
  return ok;
}

class ProgressSink : public rib::engine::EventSink {
 public:
  void OnProgress(int epoch, int epochs, int64_t step, int64_t steps, double loss,
                  double lr) override {
    std::fprintf(stderr, "  epoch %d/%d step %lld/%lld loss %.4f lr %.3g\n", epoch + 1,
                 epochs, static_cast<long long>(step), static_cast<long long>(steps), loss,
                 lr);
  }
};
}  // namespace

int main(int argc, char** argv) {
  const rib::ProgramHelp help = {
      "rib-pretrain",
      "--data-root DIR --out DIR [--only NAME,...] [--set key=value,...] [--force]",
      "Pre-trains the embedded FMNIST-RIB suite's models on fmnist-train (building the\n"
      "suite under --data-root first if needed), saves each as <name>.safetensors under\n"
      "--out and prints its fmnist-val accuracy. It trains every recipe unless --only\n"
      "names some: fmnist_resnet_plain and fmnist_resnet_rich (the demo's pair) and\n"
      "fmnist_vit_plain (a ViT, for lora). A model whose file exists with the same\n"
      "config hash is not retrained. --set changes a field of every recipe run (arch,\n"
      "train_examples, epochs, optimizer, batch_size, lr, warmup_steps, weight_decay,\n"
      "augment, seed).",
      {"rib-pretrain --data-root=state/data --out=state/artifacts/models "
       "--only=fmnist_vit_plain"}};
  rib::ParseFlagsOrExit(help, argc, argv);
  rib::SetLogTag("rib-pretrain");
  rib::engine::PretrainOptions options;
  options.data_root = absl::GetFlag(FLAGS_data_root);
  options.out_dir = absl::GetFlag(FLAGS_out);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.force = absl::GetFlag(FLAGS_force);
  if (options.data_root.empty() || options.out_dir.empty()) {
    std::fprintf(stderr, "rib-pretrain: --data-root and --out are required\n");
    return 2;
  }
  const std::vector<std::string> only = absl::GetFlag(FLAGS_only);
  std::vector<rib::engine::PretrainRecipe> recipes;
  std::vector<std::string> known;
  for (rib::engine::PretrainRecipe recipe : rib::engine::DefaultPretrainRecipes()) {
    known.push_back(recipe.name);
    if (!only.empty() && std::find(only.begin(), only.end(), recipe.name) == only.end())
      continue;
    for (const std::string& item : absl::GetFlag(FLAGS_set)) {
      std::string error;
      if (!ApplyOverride(item, &recipe, &error)) {
        std::fprintf(stderr, "rib-pretrain: %s\n", error.c_str());
        return 2;
      }
    }
    recipes.push_back(recipe);
  }
  for (const std::string& name : only) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::fprintf(stderr, "rib-pretrain: --only: no recipe named '%s' (known: %s)\n",
                   name.c_str(), absl::StrJoin(known, ", ").c_str());
      return 2;
    }
  }
  ProgressSink sink;
  auto outcomes = rib::engine::Pretrain(recipes, options, &sink);
  if (!outcomes.ok()) {
    std::fprintf(stderr, "rib-pretrain: %s\n", outcomes.status().ToString().c_str());
    return 1;
  }
  for (const auto& o : *outcomes) {
    std::printf("%s\t%s\tfmnist-val %lld/%lld = %.2f%%\t%s\n", o.name.c_str(), o.path.c_str(),
                static_cast<long long>(o.val_correct), static_cast<long long>(o.val_total),
                100.0 * o.val_accuracy(),
                o.cached ? "cached" : absl::StrFormat("trained in %.1fs", o.seconds).c_str());
  }
  return 0;
}
