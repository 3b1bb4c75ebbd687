// rib-bench-eval: the C++ side of bench/eval/run.sh. One `pre` job (RunJob: load the
// model, evaluate every --datasets key's test split) three ways: without the
// evaluation cache, with a cold one (emptied first: the job builds it) and with the
// warm one; and the input pipeline alone (BatchLoader over the same test splits, no
// model) the same three ways. Prints one markdown row per way:
//   | case | cache | images | job wall (s) | job images/s | input-only images/s |
//   open (s) |   (the input-only pass's time in EvalCache::Open: building when cold,
//                 verifying the entries' CRC when warm)
// --rounds N repeats each way N times and keeps the fastest (the cold way empties the
// cache before each of its rounds).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "spec/preprocessing.h"
#include "spec/suites.h"
#include "worker/data/eval_cache.h"
#include "worker/data/loader.h"
#include "worker/data/source.h"
#include "worker/engine/runner.h"

ABSL_FLAG(std::string, data_root, "", "dataset root (required)");
ABSL_FLAG(std::string, datasets, "",
          "comma-separated eval dataset keys, or suite:NAME for a suite's eval datasets "
          "(the demo sweep's: suite:fmnist-rib)");
ABSL_FLAG(std::string, arch, "fmnist_resnet", "model architecture (random weights)");
ABSL_FLAG(std::string, weights, "", "model weights; empty = random initialisation");
ABSL_FLAG(std::string, artifact_root, "", "root the weights path is under");
ABSL_FLAG(int, num_classes, 10, "model classes");
ABSL_FLAG(std::string, split, "heldout", "heldout or reference");
ABSL_FLAG(int, threads, 2, "compute and decoding threads");
ABSL_FLAG(int, batch, 256, "evaluation batch size");
ABSL_FLAG(int, rounds, 1, "rounds per way (fastest kept)");
ABSL_FLAG(std::string, cache_dir, "", "the cache folder to use (emptied for cold)");
ABSL_FLAG(std::string, label, "", "the table's case column");

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

rib::JobSpec Spec() {
  rib::JobSpec spec;
  spec.model.name = "bench";
  spec.model.arch = absl::GetFlag(FLAGS_arch);
  spec.model.weights = absl::GetFlag(FLAGS_weights);
  spec.model.num_classes = absl::GetFlag(FLAGS_num_classes);
  spec.model.preprocessing = rib::spec::DefaultPreprocessing(spec.model.arch);
  spec.method.name = spec.method.kind = "pre";
  const std::string datasets = absl::GetFlag(FLAGS_datasets);
  if (absl::StartsWith(datasets, "suite:")) {
    spec.eval_datasets = rib::spec::SuiteEvalDatasets(datasets.substr(6));
  } else {
    spec.eval_datasets = absl::StrSplit(datasets, ',', absl::SkipEmpty());
  }
  spec.split = absl::GetFlag(FLAGS_split);
  spec.training.eval_batch_size = absl::GetFlag(FLAGS_batch);
  return spec;
}

struct InputRun {
  int64_t images = 0;
  double open_seconds = 0;  // in EvalCache::Open (warm: the verification)
};

// The input pipeline alone over every dataset's test split.
absl::StatusOr<InputRun> InputOnly(const rib::JobSpec& spec, const std::string& cache_root) {
  rib::data::DatasetOptions options;
  options.data_root = absl::GetFlag(FLAGS_data_root);
  options.preprocessing = spec.model.preprocessing;
  options.split = spec.split;
  std::unique_ptr<rib::data::EvalCache> cache;
  if (!cache_root.empty()) {
    rib::data::EvalCacheOptions cache_options;
    cache_options.root = cache_root;
    cache_options.threads = absl::GetFlag(FLAGS_threads);
    auto created = rib::data::EvalCache::Create(cache_options);
    if (!created.ok()) return created.status();
    cache = *std::move(created);
  }
  InputRun run;
  for (const std::string& key : spec.eval_datasets) {
    auto source = rib::data::OpenDataset(key, options);
    if (!source.ok()) return source.status();
    auto split = rib::data::SplitDataset(**source, options);
    if (!split.ok()) return split.status();
    std::unique_ptr<rib::data::DatasetSource> cached;
    if (cache != nullptr) {
      const auto t0 = Clock::now();
      auto opened = cache->Open(**source, split->test, options);
      run.open_seconds += Seconds(t0, Clock::now());
      if (!opened.ok()) return opened.status();
      cached = *std::move(opened);
    }
    rib::data::LoaderOptions loader_options;
    loader_options.batch_size = spec.training.eval_batch_size;
    loader_options.threads = absl::GetFlag(FLAGS_threads);
    auto loader = rib::data::BatchLoader::Create(
        cached != nullptr ? cached.get() : source->get(), split->test, loader_options);
    if (!loader.ok()) return loader.status();
    rib::data::Batch batch;
    while (true) {
      auto more = (*loader)->Next(&batch);
      if (!more.ok()) return more.status();
      if (!*more) break;
      run.images += batch.labels.size(0) + batch.skipped;
    }
  }
  return run;
}

int Main() {
  const rib::JobSpec spec = Spec();
  const std::string cache_dir = absl::GetFlag(FLAGS_cache_dir);
  if (absl::GetFlag(FLAGS_data_root).empty() || spec.eval_datasets.empty() ||
      cache_dir.empty()) {
    std::fprintf(stderr, "rib-bench-eval: --data-root, --datasets and --cache-dir are required\n");
    return 2;
  }
  const int rounds = std::max(1, absl::GetFlag(FLAGS_rounds));
  for (const char* way : {"none", "cold", "warm"}) {
    const bool use_cache = std::string(way) != "none";
    double best_job = 1e30, best_input = 1e30, open_seconds = 0;
    int64_t images = 0;
    for (int r = 0; r < rounds; ++r) {
      if (std::string(way) == "cold") fs::remove_all(cache_dir);
      rib::engine::RunOptions options;
      options.data_root = absl::GetFlag(FLAGS_data_root);
      options.artifact_root = absl::GetFlag(FLAGS_artifact_root);
      options.threads = absl::GetFlag(FLAGS_threads);
      if (use_cache) options.eval_cache_root = cache_dir;
      const auto t0 = Clock::now();
      auto result = rib::engine::RunJob(spec, options, nullptr);
      const auto t1 = Clock::now();
      if (!result.ok()) {
        std::fprintf(stderr, "rib-bench-eval: %s\n", result.status().ToString().c_str());
        return 1;
      }
      images = 0;
      for (const auto& row : result->results) images += row.total + row.skipped;
      best_job = std::min(best_job, Seconds(t0, t1));

      if (std::string(way) == "cold") fs::remove_all(cache_dir);
      const auto t2 = Clock::now();
      auto read = InputOnly(spec, use_cache ? cache_dir : "");
      const auto t3 = Clock::now();
      if (!read.ok()) {
        std::fprintf(stderr, "rib-bench-eval: %s\n", read.status().ToString().c_str());
        return 1;
      }
      if (Seconds(t2, t3) < best_input) {
        best_input = Seconds(t2, t3);
        open_seconds = read->open_seconds;
      }
    }
    const std::string open_text = use_cache ? absl::StrFormat("%.2f", open_seconds) : "—";
    std::printf("| %s | %s | %lld | %.2f | %.1f | %.1f | %s |\n",
                absl::GetFlag(FLAGS_label).c_str(), way, static_cast<long long>(images),
                best_job, images / best_job, images / best_input,
                open_text.c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return Main();
}
