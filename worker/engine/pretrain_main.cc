// rib-pretrain: pre-trains the embedded suite's two models (plain and rich) on
// fmnist-train, saves them as safetensors and prints their fmnist-val accuracy.
// Cached: a model whose file exists with the same config hash is not retrained.
//
//   rib-pretrain --data-root D --out DIR [--threads 2] [--force]
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "worker/engine/pretrain.h"

ABSL_FLAG(std::string, data_root, "", "dataset root (FMNIST-RIB is built there on first use)");
ABSL_FLAG(std::string, out, "", "output folder for <name>.safetensors");
ABSL_FLAG(int, threads, 0, "torch threads (0 = default)");
ABSL_FLAG(bool, force, false, "retrain even when cached");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning, error");

namespace {
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
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {  // --data-root == --data_root
    std::string& a = args[i];
    if (a.rfind("--", 0) != 0) continue;
    const size_t end = std::min(a.find('='), a.size());
    for (size_t k = 2; k < end; ++k) {
      if (a[k] == '-') a[k] = '_';
    }
  }
  std::vector<char*> argv2;
  for (auto& a : args) argv2.push_back(a.data());
  absl::SetProgramUsageMessage("rib-pretrain --data-root D --out DIR");
  absl::ParseCommandLine(static_cast<int>(argv2.size()), argv2.data());
  rib::LogLevel level;
  if (rib::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) rib::SetLogLevel(level);
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
  ProgressSink sink;
  auto outcomes = rib::engine::Pretrain(rib::engine::DefaultPretrainRecipes(), options, &sink);
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
