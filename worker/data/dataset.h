// The contract between the data library (worker/data) and the engine (worker/engine).
// Datasets are lists of examples with labels in the dataset's own label space, plus a
// LabelSpace saying how that space maps onto the model's output classes.
#ifndef RIB_WORKER_DATA_DATASET_H_
#define RIB_WORKER_DATA_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

namespace rib::data {

// Example::source of a rendering whose source photo has no recognisable name.
inline constexpr char kUnknownSource[] = "?";

// One labelled example. Images stay on disk (or in the FMNIST-RIB cache) until decoded.
struct Example {
  std::string path;    // file to decode (absolute), or "" for in-memory suites
  int64_t label = 0;   // index in the dataset's label space (see LabelSpace)
  std::string subset;  // "" or an ImageNet-C subset key such as "gaussian_noise/3"
  std::string group;   // split group: examples sharing a group stay on one side
  // The ImageNet val photo this example shows ("ILSVRC2012_val_00000001"), or "".
  // Set in imagenet-val and its renderings imagenet-c, -cartoon and -drawing, which keep
  // the photos' file names. Such an example's side of the split depends on the photo
  // and the seed alone, so a photo is on the same side in all of those datasets.
  std::string photo;
  // The source image this example shows, compared across datasets by held-out
  // evaluation (EvaluationSet, source.h): the ImageNet val photo's name (as `photo`),
  // or FMNIST-RIB's "<images>/<n>" (the n-th Fashion-MNIST train or t10k image). ""
  // for an image that is its own source (shared with no other dataset);
  // kUnknownSource for a rendering of a photo that cannot be named (ImageNet-C,
  // -Cartoon, -Drawing files without the val file name).
  std::string source;
  int64_t index = 0;   // position in the full dataset (stable across splits)
};

// How a dataset's labels relate to the model's output classes.
//
// * class_subset empty: labels are model classes directly (ImageNet val, V2, Sketch,
//   FMNIST-RIB sets).
// * class_subset non-empty: logits are restricted to these model classes (IN-A/R: 200,
//   ObjectNet: 125), in this order.
// * accepted[label] non-empty: the model classes that count as a correct prediction for
//   that label (ObjectNet's standard protocol: any class mapped to the folder). When
//   empty, the single correct class is class_subset[label] (or label without subset).
struct LabelSpace {
  int64_t num_model_classes = 0;
  std::vector<int64_t> class_subset;
  std::vector<std::vector<int64_t>> accepted;
  std::vector<std::string> label_names;  // one per dataset label (wnid, folder, ...)

  int64_t num_labels() const { return static_cast<int64_t>(label_names.size()); }
  // Model classes accepted for `label`.
  std::vector<int64_t> AcceptedClasses(int64_t label) const {
    if (label >= 0 && label < static_cast<int64_t>(accepted.size()) &&
        !accepted[label].empty())
      return accepted[label];
    if (!class_subset.empty()) return {class_subset[label]};
    return {label};
  }
};

}  // namespace rib::data

#endif  // RIB_WORKER_DATA_DATASET_H_
