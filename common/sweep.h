// Sweep files (YAML) → validated SweepSpec → planned jobs with canonical hashes.
// Thread-compatible pure functions; no I/O except where stated.
//
// Errors: INVALID_ARGUMENT whose message names the source, the line and the field,
// e.g. "demo.yaml:14: methods[2].kind: unknown method 'lorra' (expected one of ...)".
//
// ## The sweep file (tests/common/testdata/demo_sweep.yaml is a complete example)
//
//   name: demo                 # required; [A-Za-z0-9._-]+
//   suite: fmnist-rib          # fmnist-rib (default) | imagenet-rib
//   priority: 0                # any integer; higher runs first
//   max_attempts: 3            # 1..100
//   devices: 1                 # devices per job, 1..64
//   split: heldout             # heldout (default) | reference (train and test on all)
//   test_fraction: 0.2         # in (0, 1); only used by split: heldout
//   models:                    # required, non-empty; names unique
//     - name: vit-plain        # required; the display name (not hashed)
//       arch: fmnist_vit       # required
//       weights: models/fmnist_vit_plain.safetensors  # required; under the artifact
//                              # root, no '..' component
//       num_classes: 10        # default: 10 for fmnist-rib, 1000 for imagenet-rib
//       preprocessing:         # optional; each key defaults by arch family
//         {image_size: 32, crop_pct: 1.0, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5],
//          interpolation: bicubic}
//   methods:                   # required, non-empty; a bare kind or a map
//     - ft
//     - {kind: lora, params: {rank: 8, alpha: 1}}
//     - {name: wise, kind: wise-ft, params: {alpha: 0.5}}
//     - {kind: soup, members: [ft, lora]}
//   finetune_datasets: [fmnist-v2, fmnist-a]  # default: the suite's 8 downstream sets
//   eval_datasets: [fmnist-val, fmnist-v2]    # default: the suite's val + the 8
//   training: {lr: 0.001, epochs: 10, batch_size: 64, warmup_steps: 196, momentum: 0.9,
//              weight_decay: 0, seed: 0, precision: auto, max_steps: 0,
//              skip_corrupt: false, optimizer: sgd (or adamw), schedule: cosine,
//              eval_batch_size: 256}
//
// Method kinds and their parameters (defaults in brackets; DESIGN §6):
//   pre, ft, lp, lpft       none
//   lora                    rank [8] (integer >= 1), alpha [1] (> 0)
//   vp                      pad [30] (width of the prompt in pixels at 224 px, scaled
//                           by the image side; in (0, 111])
//   lwf                     alpha [1] (>= 0), temperature [2] (> 0)
//   ewc                     lambda [5000] (>= 0), fisher_batches [16] (>= 1; training
//                           batches the diagonal Fisher is estimated on, at θ_pre)
//   l2sp                    lambda [1] (>= 0)
//   wise-ft                 alpha [0.5] (in [0, 1]); 0 = pre-trained, 1 = ft weights
//   soup                    members: names of other methods of the sweep (not pre or
//                           soup), averaged uniformly with the pre-trained weights
// A method's name defaults to its kind; names are unique, and a name that is a method
// kind must be that method's own kind (so "lp" always means an lp method). Two methods
// with the same kind and parameters are rejected (they would compute the same jobs).
// Unknown keys are rejected at every level (they are almost always typos).
//
// ## What a job's hash covers (CanonicalJobJson)
// Exactly what decides the numbers a job produces, so equal hashes can share results:
//   * model: arch, weights_digest (the content, not the path), num_classes,
//     preprocessing — NOT the model's display name;
//   * method: kind and canonical params (defaults spelled out), and the hashes of the
//     jobs whose weights it reads (sorted; lpft → lp, wise-ft → ft, soup → members) —
//     NOT the method's display name nor the soup's member names;
//   * finetune_dataset, the sorted eval datasets, split, test_fraction (only with split
//     heldout: reference ignores it), seed (it seeds the split), suite;
//   * the training config only for methods that train (not pre, wise-ft, soup); the
//     settings that change evaluation numbers (precision, skip_corrupt) for every job.
// NOT covered: devices (DESIGN §6: N data-parallel ranks with the same global batch
// produce the same weights as one, so a result computed on 1 device answers for 4),
// eval_batch_size (a throughput knob: counts do not depend on it), priority and
// max_attempts (scheduling), the weights path (the digest stands for it).
#ifndef RIB_COMMON_SWEEP_H_
#define RIB_COMMON_SWEEP_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/job_spec.h"
#include "common/json.h"  // FormatCanonicalNumber

namespace rib {

struct SweepSpec {
  std::string name;
  int priority = 0;  // higher runs first
  int max_attempts = 3;
  std::string suite = "fmnist-rib";  // "fmnist-rib" or "imagenet-rib"
  std::vector<ModelSpec> models;
  std::vector<MethodSpec> methods;
  std::vector<std::string> finetune_datasets;
  std::vector<std::string> eval_datasets;  // default: the suite's 9 (val + 8 shifts)
  TrainingConfig training;
  std::string split = "heldout";
  double test_fraction = 0.2;
  int devices = 1;  // devices per job
};

// Parses and validates a sweep file. `source_name` is used in error messages.
// Every default is filled in the result (method params, preprocessing, num_classes,
// dataset lists), so two files that differ only in spelled-out defaults or key order
// parse to equal specs. model.weights_digest is left empty.
absl::StatusOr<SweepSpec> ParseSweepYaml(absl::string_view text,
                                         absl::string_view source_name = "sweep");

// One job of an expanded sweep.
struct PlannedJob {
  std::string key;  // "model/method/dataset", or "model/pre"
  JobSpec spec;
  std::vector<std::string> depends_on;  // keys of jobs whose weights this one reads
  std::string hash;                     // JobHash(spec)
};

// Expands a sweep into one `pre` job per model, one job per (model, method,
// fine-tune dataset), with lpft→lp, wise-ft→ft and soup→members edges. Jobs come in
// dependency order; dependency_hashes are filled before each job is hashed, so a
// job's hash covers everything it reads. Model weights_digest must be filled first.
//
// Details: a dependency the sweep does not list (lpft's lp, wise-ft's ft) is added as
// a job of its own (method name = kind); a listed `pre` method merges with the
// automatic pre job. Jobs are ordered model by model: "model/pre", then each method
// after the methods it needs (otherwise in file order), each over finetune_datasets in
// file order. dependency_hashes keys: "lp" for lpft, "ft" for wise-ft, each member's
// method name for a soup. wise-ft and soup jobs carry the fine-tune dataset of the row
// they belong to (they read weights trained on it) although they do not train.
// Errors: FAILED_PRECONDITION naming the model when a weights_digest is empty;
// INVALID_ARGUMENT for a spec that ParseSweepYaml would have rejected (unknown kind,
// soup member that is not a method, ...).
absl::StatusOr<std::vector<PlannedJob>> ExpandSweep(const SweepSpec& sweep);

// Canonical JSON of a job's configuration: keys sorted, every default spelled out,
// numbers in one fixed format. Equal configurations give equal text. Only the fields
// listed at the top of this file appear; method params are canonicalised
// (CanonicalMethodParams) when they are valid, so a spec built by hand hashes like
// the parsed one.
std::string CanonicalJobJson(const JobSpec& spec);
// Hex SHA-256 of CanonicalJobJson(spec).
std::string JobHash(const JobSpec& spec);

// The dataset keys of a suite: the pre-training-set analogue first ("imagenet-val" /
// "fmnist-val"), then the 8 downstream datasets.
std::vector<std::string> SuiteEvalDatasets(const std::string& suite);
std::vector<std::string> SuiteDownstreamDatasets(const std::string& suite);

// ---- Helpers shared with the coordinator, the worker and the CLI. ----

// "fmnist-rib" and "imagenet-rib".
const std::vector<std::string>& KnownSuites();
// "imagenet-val" / "fmnist-val"; "" for an unknown suite.
std::string SuitePretrainDataset(const std::string& suite);
// 10 for fmnist-rib, 1000 for imagenet-rib (and anything else).
int SuiteDefaultNumClasses(const std::string& suite);

// pre ft lp lpft lora vp lwf ewc l2sp wise-ft soup, in that order.
const std::vector<std::string>& MethodKinds();
bool IsMethodKind(absl::string_view kind);
// True for methods that run an optimiser (all but pre, wise-ft and soup).
bool MethodTrains(absl::string_view kind);
// The kind whose weights `kind` starts from: "lp" for lpft, "ft" for wise-ft, "" else
// (a soup's dependencies are its members).
std::string MethodDependencyKind(absl::string_view kind);

// Whether `name` is a parameter of method kind `kind`.
bool IsMethodParam(absl::string_view kind, absl::string_view name);
// Validates one method parameter and returns its canonical text (integers in
// decimal, reals by FormatCanonicalNumber). INVALID_ARGUMENT (the message names
// neither line nor field; callers prefix them) for unknown names or bad values.
absl::StatusOr<std::string> CanonicalMethodParam(absl::string_view kind,
                                                 absl::string_view name,
                                                 absl::string_view value);
// All of a method's parameters, canonical, with every default filled.
// INVALID_ARGUMENT "params.<name>: ..." on the first bad one.
absl::StatusOr<std::map<std::string, std::string>> CanonicalMethodParams(
    absl::string_view kind, const std::map<std::string, std::string>& params);

// Preprocessing defaults by arch family (DESIGN §4.1): fmnist_* 32 px, crop 1.0,
// mean = std = 0.5; CLIP-derived (arch contains "clip") crop 1.0 with CLIP's mean/std;
// torchvision ResNet (arch starts with "resnet") crop 0.875 (256 → 224) with ImageNet
// mean/std; otherwise timm ViT: crop 0.9, mean = std = 0.5. image_size is 224 unless
// the arch names another size ("..._384").
Preprocessing DefaultPreprocessing(absl::string_view arch);

}  // namespace rib

#endif  // RIB_COMMON_SWEEP_H_
