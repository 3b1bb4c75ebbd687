// rib-data: builds and inspects the datasets of a data root.
//   rib-data build-fmnist --data-root DIR    build (or reuse) FMNIST-RIB; print its hash
//   rib-data contact-sheets --data-root DIR --out DIR    one PNG per FMNIST-RIB dataset
//   rib-data list --data-root DIR            dataset keys present, with sizes
//   rib-data check DATA_ROOT                 every benchmark dataset found, its counts
//                                            against the published ones, what is
//                                            missing or misnamed
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/program.h"
#include "spec/data_layout.h"
#include "worker/data/data_check.h"
#include "worker/data/fmnist_rib.h"
#include "worker/data/source.h"

ABSL_FLAG(std::string, data_root, "", "the data root to build into or read (required)");
ABSL_FLAG(std::string, out, "", "contact-sheets: folder for the PNG files (required)");
ABSL_FLAG(std::string, class_list_file, "",
          "check, list: file of ImageNet wnids in class-index order (default: the "
          "built-in ImageNet-1K list)");
ABSL_FLAG(std::string, source, rib::data::FmnistRibOptions().source_dir,
          "build-fmnist: folder with the Fashion-MNIST idx files (the "
          "dataset-fashion-mnist package's)");

namespace {

namespace fs = std::filesystem;
using rib::data::DatasetOptions;

const rib::ProgramHelp kHelp = {
    "rib-data",
    "build-fmnist|contact-sheets|list --data-root DIR [--out DIR] [--source DIR] | "
    "check DATA_ROOT",
    "Builds and inspects the datasets of a data root.\n"
    "  build-fmnist    build (or reuse, when cached) the embedded FMNIST-RIB suite from\n"
    "                  the Fashion-MNIST images of --source; prints its manifest hash\n"
    "  contact-sheets  write one PNG of sample images per FMNIST-RIB dataset to --out\n"
    "  list            the dataset keys found under --data-root, with their sizes\n"
    "  check           every ImageNet-RIB dataset under DATA_ROOT (or --data-root): the\n"
    "                  folder found, image and class counts against the published ones,\n"
    "                  missing subsets and misnamed folders or files; exits 1 when a\n"
    "                  dataset that is there does not open",
    {"rib-data build-fmnist --data-root=state/data",
     "rib-data contact-sheets --data-root=state/data --out=state/sheets",
     "rib-data check /data/imagenet-rib"},
    /*takes_arguments=*/true};

int Usage(const std::string& problem) {
  std::fprintf(stderr, "rib-data: %s\nusage: rib-data %s (rib-data --help for more)\n",
               problem.c_str(), kHelp.synopsis.c_str());
  return 2;
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "rib-data: %s\n", s.ToString().c_str());
  return 1;
}

// [3, H, W] float in [0, 1] → 8-bit BGR.
cv::Mat ToBgr(const torch::Tensor& chw) {
  auto hwc = chw.mul(255)
                 .round()
                 .clamp(0, 255)
                 .to(torch::kUInt8)
                 .permute({1, 2, 0})
                 .contiguous();
  cv::Mat rgb(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_8UC3,
              hwc.data_ptr());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  return bgr;
}

// A grid: one row per entry of `rows` (name, example positions), cells scaled 3x.
absl::Status WriteSheet(
    const rib::data::DatasetSource& src,
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& rows,
    const std::string& title, const std::string& path) {
  constexpr int kCell = 96, kGap = 4, kLabel = 150, kTitle = 30, kCols = 8;
  const int width = kLabel + kCols * (kCell + kGap);
  const int height = kTitle + static_cast<int>(rows.size()) * (kCell + kGap);
  cv::Mat sheet(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::putText(sheet, title, cv::Point(6, 21), cv::FONT_HERSHEY_SIMPLEX, 0.6,
              cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  for (size_t r = 0; r < rows.size(); ++r) {
    const int y = kTitle + static_cast<int>(r) * (kCell + kGap);
    cv::putText(sheet, rows[r].first, cv::Point(6, y + kCell / 2),
                cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    for (size_t c = 0; c < rows[r].second.size() && c < kCols; ++c) {
      auto img = src.LoadImage(src.examples()[rows[r].second[c]]);
      if (!img.ok()) return img.status();
      cv::Mat cell;
      cv::resize(ToBgr(*img), cell, cv::Size(kCell, kCell), 0, 0, cv::INTER_NEAREST);
      cell.copyTo(sheet(
          cv::Rect(kLabel + static_cast<int>(c) * (kCell + kGap), y, kCell, kCell)));
    }
  }
  if (!cv::imwrite(path, sheet))
    return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status ContactSheets(const std::string& root, const std::string& out) {
  std::error_code ec;
  fs::create_directories(out, ec);
  DatasetOptions opts;
  opts.data_root = root;
  opts.preprocessing.image_size = rib::data::kFmnistImageSize;
  opts.preprocessing.crop_pct = 1.0;
  opts.preprocessing.mean = {0, 0, 0};
  opts.preprocessing.std = {1, 1, 1};
  for (const auto& key : rib::data::FmnistKeys()) {
    auto src = rib::data::OpenDataset(key, opts);
    if (!src.ok()) return src.status();
    const auto& ex = (*src)->examples();
    const auto& labels = (*src)->label_space();
    std::vector<std::pair<std::string, std::vector<int64_t>>> rows;
    if (key == "fmnist-c") {
      // One row per corruption: the same source image at severities 1..5.
      std::map<std::string, std::map<std::string, int64_t>>
          first;  // corruption → group → sev-1 pos
      const auto subsets = (*src)->subsets();
      for (size_t s = 0; s < subsets.size(); s += 5) {
        const std::string corruption = subsets[s].substr(0, subsets[s].find('/'));
        std::vector<int64_t> cells;
        std::string group;
        for (int sev = 1; sev <= 5; ++sev) {
          const std::string want = absl::StrCat(corruption, "/", sev);
          for (size_t i = 0; i < ex.size(); ++i) {
            if (ex[i].subset == want && (group.empty() || ex[i].group == group)) {
              group = ex[i].group;
              cells.push_back(static_cast<int64_t>(i));
              break;
            }
          }
        }
        rows.emplace_back(corruption, cells);
      }
    } else {
      for (int64_t l = 0; l < labels.num_labels(); ++l) {
        std::vector<int64_t> cells;
        for (size_t i = 0; i < ex.size() && cells.size() < 8; ++i)
          if (ex[i].label == l) cells.push_back(static_cast<int64_t>(i));
        rows.emplace_back(labels.label_names[l], cells);
      }
    }
    const std::string path = absl::StrCat(out, "/", key, ".png");
    auto st =
        WriteSheet(**src, rows, absl::StrCat(key, " (", ex.size(), " images)"), path);
    if (!st.ok()) return st;
    std::printf("%s\n", path.c_str());
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args = rib::ParseFlagsOrExit(kHelp, argc, argv);
  if (args.empty()) return Usage("no command given");
  const std::string& cmd = args[0];
  if (cmd != "build-fmnist" && cmd != "contact-sheets" && cmd != "list" && cmd != "check")
    return Usage("unknown command '" + cmd + "'");
  if (args.size() > (cmd == "check" ? 2u : 1u)) return Usage("too many arguments");
  const std::string root =
      args.size() == 2 ? args[1] : absl::GetFlag(FLAGS_data_root);
  if (root.empty()) return Usage(cmd == "check" ? "check needs DATA_ROOT" : "--data-root is required");
  if (cmd == "check") {
    DatasetOptions opts;
    opts.data_root = root;
    opts.class_list_file = absl::GetFlag(FLAGS_class_list_file);
    auto checks = rib::data::CheckDataRoot(opts);
    if (!checks.ok()) return Fail(checks.status());
    std::fputs(rib::data::FormatDataCheck(*checks).c_str(), stdout);
    for (const auto& c : *checks)
      if (c.Status() == "error") return 1;
    return 0;
  }
  if (cmd == "build-fmnist") {
    rib::data::FmnistRibOptions opts;
    opts.source_dir = absl::GetFlag(FLAGS_source);
    std::error_code ec;
    fs::create_directories(root, ec);
    const auto start = std::chrono::steady_clock::now();
    auto m = rib::data::BuildFmnistRib(root, opts);
    if (!m.ok()) return Fail(m.status());
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("FMNIST-RIB v%d at %s\nmanifest sha256 %s (%.2f s)\n", m->version,
                m->dir.c_str(), m->hash.c_str(), secs);
    for (const auto& d : m->datasets)
      std::printf("  %-18s %6lld\n", d.key.c_str(), static_cast<long long>(d.count));
    return 0;
  }
  if (cmd == "contact-sheets") {
    const std::string out = absl::GetFlag(FLAGS_out);
    if (out.empty()) return Usage("contact-sheets needs --out");
    auto st = ContactSheets(root, out);
    return st.ok() ? 0 : Fail(st);
  }
  // list
  DatasetOptions opts;
  opts.data_root = root;
  opts.class_list_file = absl::GetFlag(FLAGS_class_list_file);
  for (const auto& key : rib::spec::ListAvailableDatasets(root)) {
    auto src = rib::data::OpenDataset(key, opts);
    if (!src.ok()) {
      std::printf("%-18s error: %s\n", key.c_str(), src.status().ToString().c_str());
      continue;
    }
    std::printf("%-18s %7zu images %5lld labels %3zu subsets\n", key.c_str(),
                (*src)->examples().size(),
                static_cast<long long>((*src)->label_space().num_labels()),
                (*src)->subsets().size());
  }
  return 0;
}
