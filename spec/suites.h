// The suite and dataset catalog (DESIGN §4): which benchmarks rib runs and the keys of
// their datasets. The one list of dataset keys: the sweep parser checks a sweep's
// datasets against it, the data library opens exactly these keys, FMNIST-RIB builds
// exactly its suite's keys, and the coordinator's matrices take their columns from it.
//
//   suite         pre-training set  its validation analogue  the 8 downstream datasets
//   imagenet-rib  (not a key)       imagenet-val             imagenet-v2 imagenet-a
//                                                            imagenet-r imagenet-sketch
//                                                            objectnet imagenet-cartoon
//                                                            imagenet-drawing imagenet-c
//   fmnist-rib    fmnist-train      fmnist-val               fmnist-v2 fmnist-a fmnist-r
//                                                            fmnist-sketch
//                                                            fmnist-objectnet
//                                                            fmnist-cartoon
//                                                            fmnist-drawing fmnist-c
//
// Thread-safety: pure functions over static tables; thread-safe.
#ifndef RIB_SPEC_SUITES_H_
#define RIB_SPEC_SUITES_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace rib::spec {

// "fmnist-rib" and "imagenet-rib".
const std::vector<std::string>& KnownSuites();
bool IsSuite(absl::string_view suite);
// The dataset keys of a suite: the pre-training set's validation analogue first
// ("imagenet-val" / "fmnist-val"), then the 8 downstream datasets; {} for an unknown
// suite. This order is the order of a matrix's columns.
std::vector<std::string> SuiteEvalDatasets(const std::string& suite);
std::vector<std::string> SuiteDownstreamDatasets(const std::string& suite);
// "imagenet-val" / "fmnist-val"; "" for an unknown suite.
std::string SuitePretrainDataset(const std::string& suite);
// The pre-training set itself when rib builds it ("fmnist-train"); "" otherwise.
std::string SuiteTrainDataset(const std::string& suite);
// Every key of a suite rib can open: the training set (if any), the eval datasets, then
// keys opened only when asked for by name (imagenet-c-extra: ImageNet-C's 4 extra
// corruptions, no column of the matrix).
std::vector<std::string> SuiteDatasetKeys(const std::string& suite);
// 10 for fmnist-rib, 1000 for imagenet-rib (and anything else).
int SuiteDefaultNumClasses(const std::string& suite);

// Every dataset key of every suite, suite by suite (imagenet-rib first), each suite's
// in SuiteDatasetKeys order.
const std::vector<std::string>& AllDatasetKeys();
bool IsDatasetKey(absl::string_view key);
// The suite a dataset key belongs to; "" for an unknown key.
std::string DatasetSuite(absl::string_view key);

}  // namespace rib::spec

#endif  // RIB_SPEC_SUITES_H_
