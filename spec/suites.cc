#include "spec/suites.h"

namespace rib::spec {
namespace {

struct SuiteDef {
  const char* name;
  const char* train;  // "" when rib does not build the pre-training set
  const char* val;
  std::vector<std::string> downstream;  // the matrix's column order after val
  int num_classes;
  // Keys rib can open and workers advertise that are no column of the matrix
  // (ImageNet-C's 4 extra corruptions: spec/data_layout.h).
  std::vector<std::string> extra = {};
};

const std::vector<SuiteDef>& Suites() {
  static const auto* suites = new std::vector<SuiteDef>{
      {"fmnist-rib",
       "fmnist-train",
       "fmnist-val",
       {"fmnist-v2", "fmnist-a", "fmnist-r", "fmnist-sketch", "fmnist-objectnet",
        "fmnist-cartoon", "fmnist-drawing", "fmnist-c"},
       10},
      {"imagenet-rib",
       "",
       "imagenet-val",
       {"imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch", "objectnet",
        "imagenet-cartoon", "imagenet-drawing", "imagenet-c"},
       1000,
       {"imagenet-c-extra"}},
  };
  return *suites;
}

const SuiteDef* FindSuite(absl::string_view name) {
  for (const SuiteDef& s : Suites()) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

}  // namespace

const std::vector<std::string>& KnownSuites() {
  static const auto* names = [] {
    auto* out = new std::vector<std::string>;
    for (const SuiteDef& s : Suites()) out->push_back(s.name);
    return out;
  }();
  return *names;
}

bool IsSuite(absl::string_view suite) { return FindSuite(suite) != nullptr; }

std::vector<std::string> SuiteDownstreamDatasets(const std::string& suite) {
  const SuiteDef* s = FindSuite(suite);
  return s == nullptr ? std::vector<std::string>{} : s->downstream;
}

std::string SuitePretrainDataset(const std::string& suite) {
  const SuiteDef* s = FindSuite(suite);
  return s == nullptr ? "" : s->val;
}

std::string SuiteTrainDataset(const std::string& suite) {
  const SuiteDef* s = FindSuite(suite);
  return s == nullptr ? "" : s->train;
}

std::vector<std::string> SuiteEvalDatasets(const std::string& suite) {
  const SuiteDef* s = FindSuite(suite);
  if (s == nullptr) return {};
  std::vector<std::string> out = {s->val};
  out.insert(out.end(), s->downstream.begin(), s->downstream.end());
  return out;
}

std::vector<std::string> SuiteDatasetKeys(const std::string& suite) {
  const SuiteDef* s = FindSuite(suite);
  if (s == nullptr) return {};
  std::vector<std::string> out;
  if (*s->train != '\0') out.push_back(s->train);
  for (std::string& key : SuiteEvalDatasets(suite)) out.push_back(std::move(key));
  out.insert(out.end(), s->extra.begin(), s->extra.end());
  return out;
}

int SuiteDefaultNumClasses(const std::string& suite) {
  const SuiteDef* s = FindSuite(suite);
  return s == nullptr ? 1000 : s->num_classes;
}

const std::vector<std::string>& AllDatasetKeys() {
  static const auto* keys = [] {
    auto* out = new std::vector<std::string>;
    for (const char* suite : {"imagenet-rib", "fmnist-rib"}) {
      for (std::string& key : SuiteDatasetKeys(suite)) out->push_back(std::move(key));
    }
    return out;
  }();
  return *keys;
}

bool IsDatasetKey(absl::string_view key) { return !DatasetSuite(key).empty(); }

std::string DatasetSuite(absl::string_view key) {
  for (const SuiteDef& s : Suites()) {
    for (const std::string& k : SuiteDatasetKeys(s.name)) {
      if (k == key) return s.name;
    }
  }
  return "";
}

}  // namespace rib::spec
