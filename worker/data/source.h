// Datasets as the engine sees them: a DatasetSource lists labelled examples and decodes
// one of them into a preprocessed tensor. OpenDataset() knows every layout rib supports
// (DESIGN §4.1 for the real benchmark, §4.2 for the embedded FMNIST-RIB suite).
//
// Thread-safety: a DatasetSource is immutable after OpenDataset() returns; LoadImage()
// may be called from many threads at once (the BatchLoader's decoding pool does so).
#ifndef RIB_WORKER_DATA_SOURCE_H_
#define RIB_WORKER_DATA_SOURCE_H_

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "spec/job_spec.h"
#include "worker/data/dataset.h"

namespace rib::data {

struct DatasetOptions {
  // Root folder holding the layouts of DESIGN §4.1 (imagenet/, imagenet-a/, ...) and the
  // FMNIST-RIB cache (fmnist-rib/). Required.
  std::string data_root;
  // How LoadImage() turns a decoded image into a tensor (size, crop_pct, mean/std).
  rib::Preprocessing preprocessing;
  // "heldout" (seeded stratified train/test split) or "reference" (the whole dataset is
  // both train and test, as the paper did).
  std::string split = "heldout";
  // Fraction of each class (of each group, for ImageNet-C) that goes to test.
  double test_fraction = 0.2;
  // Seeds the split.
  int64_t seed = 0;
  // Files that fail to decode are skipped and counted instead of failing the job.
  // Read by the BatchLoader's owner; sources themselves always report the error.
  bool skip_corrupt = false;
  // ObjectNet only: "standard" (a prediction is right if it is any ImageNet class mapped
  // to the folder) or "reference" (the FieteLab code's single-label table, including its
  // 8 stale labels; for comparison with the paper only).
  std::string objectnet_mode = "standard";
  // Optional file with the ImageNet wnids, one per line (the first token of each line:
  // "wnid lemma, ..." synset files work), in class-index order. Default "": the
  // built-in ImageNet-1K list (worker/data/imagenet_classes.h), the order torchvision
  // and timm use; set it only for models with another class order.
  std::string class_list_file;
};

// One dataset: its examples and label space, and how to decode an example.
class DatasetSource {
 public:
  virtual ~DatasetSource() = default;

  // The dataset key, e.g. "imagenet-a" or "fmnist-c".
  virtual const std::string& key() const = 0;
  virtual const LabelSpace& label_space() const = 0;
  // Every example, in a stable order; Example::index is the position in this vector.
  virtual const std::vector<Example>& examples() const = 0;
  // Distinct Example::subset values in first-seen order ({} for sets without subsets;
  // the 75 "corruption/severity" keys for ImageNet-C and fmnist-c).
  virtual std::vector<std::string> subsets() const;

  // Decodes and preprocesses one example: a [3, size, size] float tensor, normalised
  // with the options' mean/std. DATA_LOSS naming the file when it does not decode,
  // NOT_FOUND when it is missing.
  virtual absl::StatusOr<torch::Tensor> LoadImage(const Example& example) const = 0;
};

// Opens `key` under options.data_root. Keys: spec::AllDatasetKeys() (spec/suites.h).
// FMNIST-RIB keys build the suite into <data_root>/fmnist-rib on first use (cached
// afterwards).
// Errors: INVALID_ARGUMENT for a malformed key (e.g. with "..") or options, NOT_FOUND
// for an unknown key or a missing root, FAILED_PRECONDITION for a layout that does not
// follow the rules (empty class folder, unmapped ObjectNet folder, ... named in the
// message).
absl::StatusOr<std::unique_ptr<DatasetSource>> OpenDataset(const std::string& key,
                                                           const DatasetOptions& options);

struct Split {
  std::vector<Example> train;
  std::vector<Example> test;
};

// The train/test split of DESIGN §4.1: "heldout" is stratified by label, seeded by
// options.seed, with round(test_fraction * n) of each class's groups in test; examples
// sharing Example::group (ImageNet-C without val file names: the class folder and file)
// stay on one side. Examples with an Example::photo (imagenet-val, -c, -cartoon,
// -drawing as published) are split by photo instead: each photo is in test with
// probability test_fraction, drawn from (seed, photo) alone, so a photo is on the same
// side in every one of those datasets and every ImageNet-C subset. "reference"
// returns the whole dataset as both train and test. Deterministic for (dataset, seed,
// test_fraction). INVALID_ARGUMENT for an unknown split or a fraction outside [0, 1].
absl::StatusOr<Split> SplitDataset(const DatasetSource& source,
                                   const DatasetOptions& options);

// What a job fine-tuned on, for choosing the images it is evaluated on.
struct TrainedOn {
  std::string dataset;         // its key; "" when the job trained on nothing (pre)
  std::vector<Example> train;  // the train side of that dataset's split
};

// The images of dataset `eval` that a job which trained on `trained` is evaluated on
// (issue 15.9), in `eval`'s example order. `eval_split` is SplitDataset(eval, options).
// * split "reference", or `eval` is the dataset trained on: eval_split.test;
// * otherwise every example of `eval` whose source image (Example::source) is not the
//   source of any example in trained.train: for datasets that share no source image
//   with the training set, the whole of `eval` (several times its test split); for
//   renderings of the same photos (ImageNet val / -C / -Cartoon / -Drawing), the
//   photos held out from that training set.
// Where a source cannot be named (kUnknownSource, on either side) the example is taken
// only from eval_split.test, what the photo-grouped split already keeps apart as far
// as it can. So no evaluated image shows a photo that was trained on, whenever the
// photos have names.
std::vector<Example> EvaluationSet(const DatasetSource& eval, const Split& eval_split,
                                   const TrainedOn& trained,
                                   const DatasetOptions& options);

}  // namespace rib::data

#endif  // RIB_WORKER_DATA_SOURCE_H_
