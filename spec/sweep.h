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
//   priority: 0                # -1000000..1000000; higher runs first
//   max_attempts: 3            # 1..100
//   devices: 1                 # devices per job, 1..64
//   device_kind: any           # any (default) | cpu | cuda: the kind of worker device
//                              # the jobs run on (not hashed: a cell is reused across
//                              # kinds, as across device counts)
//   split: heldout             # heldout (default) | reference (train and test on all)
//   test_fraction: 0.2         # in (0, 1); only used by split: heldout
//   objectnet_mode: standard   # standard (default) | reference: how objectnet's
//                              # classes map to ImageNet's (README "Data"); hashed
//                              # only when reference
//   seeds: [0, 1, 2]           # optional: every job once per seed, as its
//                              # training.seed (so also the split's seed); not with
//                              # training.seed. The matrix reports mean ± sd over seeds.
//   models:                    # required, non-empty; names unique
//     - name: vit-plain        # required; the display name (not hashed)
//       arch: fmnist_vit       # required, but for hub weights (then config.json's);
//                              # a timm name may carry its tag: "<arch>.<tag>"
//       weights: models/fmnist_vit_plain.safetensors  # required; under the artifact
//                              # root, no '..' component; or hf-hub:<org>/<name>[@rev]
//                              # (spec/hf_hub.h), resolved by the coordinator at submit
//       num_classes: 10        # default: 10 for fmnist-rib, 1000 for imagenet-rib
//                              # (hub weights: config.json's, then those)
//       preprocessing:         # optional; each key defaults from the published weights
//                              # table or the arch family (spec/preprocessing.h); for
//                              # hub weights, config.json's pretrained_cfg comes between
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
// Method kinds and their parameters, types, ranges and defaults: spec/methods.h.
// A method's name defaults to its kind; names are unique, and a name that is a method
// kind must be that method's own kind (so "lp" always means an lp method). Two methods
// with the same kind and parameters are rejected (they would compute the same jobs).
// Unknown keys are rejected at every level (they are almost always typos).
//
// ## What a job's hash covers: spec/job_json.h (CanonicalJobJson).
#ifndef RIB_SPEC_SWEEP_H_
#define RIB_SPEC_SWEEP_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "spec/hf_hub.h"
#include "spec/job_json.h"
#include "spec/job_spec.h"
#include "spec/methods.h"
#include "spec/preprocessing.h"
#include "spec/suites.h"

namespace rib::spec {

// The range of a sweep's priority (the coordinator caps it further for users).
inline constexpr int kPriorityLimit = 1000000;

struct SweepSpec {
  std::string name;
  int priority = 0;  // higher runs first, within ±kPriorityLimit
  int max_attempts = 3;
  std::string suite = "fmnist-rib";  // "fmnist-rib" or "imagenet-rib"
  std::vector<ModelSpec> models;
  std::vector<MethodSpec> methods;
  std::vector<std::string> finetune_datasets;
  std::vector<std::string> eval_datasets;  // default: the suite's 9 (val + 8 shifts)
  TrainingConfig training;
  std::string split = "heldout";
  double test_fraction = 0.2;
  std::string objectnet_mode = "standard";  // JobSpec::objectnet_mode
  int devices = 1;  // devices per job
  std::string device_kind;  // "" = any kind, else "cpu" or "cuda"
  // Models whose weights name a hub snapshot, by model name: what the sweep file set
  // itself. Such a model's arch, num_classes and preprocessing are filled by
  // ResolveHubModels (they are left empty / at the struct's defaults until then).
  std::map<std::string, ModelOverrides> hub_models;
  // Default empty: one run of each job with training.seed. Otherwise each job runs once
  // per seed with training.seed = that seed (ExpandSweep), distinct, at most kMaxSeeds.
  std::vector<int64_t> seeds;
};

inline constexpr int kMaxSeeds = 32;

// What ResolveHubModels found for one hub model.
struct ResolvedHubModel {
  std::string model;      // the model's name
  std::string reference;  // "hf-hub:timm/NAME@REV" as the sweep wrote it
  HubSnapshot snapshot;   // snapshot.weights_path is relative to the cache
};

// Resolves every model of `sweep->hub_models` in the hub cache at `cache_dir`
// (ResolveHubSnapshot, ApplyHubSnapshot): fills the model's weights (the workers'
// mirror path), arch, num_classes and preprocessing, and clears hub_models. Reads the
// cache. Errors: those of ResolveHubSnapshot / ApplyHubSnapshot, prefixed with the
// model's name.
absl::StatusOr<std::vector<ResolvedHubModel>> ResolveHubModels(const std::string& cache_dir,
                                                               SweepSpec* sweep);

// Parses and validates a sweep file. `source_name` is used in error messages.
// Every default is filled in the result (method params, preprocessing, num_classes,
// dataset lists), so two files that differ only in spelled-out defaults or key order
// parse to equal specs; but hub models (sweep.hub_models) wait for ResolveHubModels.
// model.weights_digest is left empty.
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
// Errors: FAILED_PRECONDITION naming the model when a weights_digest is empty or hub
// weights are not resolved;
// INVALID_ARGUMENT for a spec that ParseSweepYaml would have rejected (unknown kind,
// soup member that is not a method, ...).
//
// With seeds: the expansion above once per seed with training.seed = that seed, seed by
// seed; keys get the suffix "@seed=N" (dependencies too). A job's hash covers its
// training.seed as always, so seed 0's jobs hash as a sweep without seeds does.
absl::StatusOr<std::vector<PlannedJob>> ExpandSweep(const SweepSpec& sweep);

// How many jobs ExpandSweep(sweep) makes, computed without making them (and without
// weights digests): models × (1 + methods, implicit dependencies included, × fine-tune
// datasets), times the number of seeds when there are any. For refusing an oversized
// sweep before any work. Errors: as ExpandSweep's
// INVALID_ARGUMENT ones.
absl::StatusOr<int64_t> CountSweepJobs(const SweepSpec& sweep);

}  // namespace rib::spec

#endif  // RIB_SPEC_SWEEP_H_
