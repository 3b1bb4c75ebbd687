// Sweep files (YAML) → validated SweepSpec → planned jobs with canonical hashes.
// Thread-compatible pure functions; no I/O except where stated.
//
// Errors: INVALID_ARGUMENT whose message names the source, the line and the field,
// e.g. "demo.yaml:14: methods[2].kind: unknown method 'lorra' (expected one of ...)".
#ifndef RIB_COMMON_SWEEP_H_
#define RIB_COMMON_SWEEP_H_

#include <functional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"

namespace rib {

struct SweepSpec {
  std::string name;
  int priority = 0;                 // higher runs first
  int max_attempts = 3;
  std::string suite = "fmnist-rib"; // "fmnist-rib" or "imagenet-rib"
  std::vector<ModelSpec> models;
  std::vector<MethodSpec> methods;
  std::vector<std::string> finetune_datasets;
  std::vector<std::string> eval_datasets;  // default: the suite's 9 (val + 8 shifts)
  TrainingConfig training;
  std::string split = "heldout";
  double test_fraction = 0.2;
  int devices = 1;                  // devices per job
};

// Parses and validates a sweep file. `source_name` is used in error messages.
absl::StatusOr<SweepSpec> ParseSweepYaml(absl::string_view text,
                                         absl::string_view source_name = "sweep");

// One job of an expanded sweep.
struct PlannedJob {
  std::string key;                      // "model/method/dataset", or "model/pre"
  JobSpec spec;
  std::vector<std::string> depends_on;  // keys of jobs whose weights this one reads
  std::string hash;                     // JobHash(spec)
};

// Expands a sweep into one `pre` job per model, one job per (model, method,
// fine-tune dataset), with lpft→lp, wise-ft→ft and soup→members edges. Jobs come in
// dependency order; dependency_hashes are filled before each job is hashed, so a
// job's hash covers everything it reads. Model weights_digest must be filled first.
absl::StatusOr<std::vector<PlannedJob>> ExpandSweep(const SweepSpec& sweep);

// Canonical JSON of a job's configuration: keys sorted, every default spelled out,
// numbers in one fixed format. Equal configurations give equal text.
std::string CanonicalJobJson(const JobSpec& spec);
// Hex SHA-256 of CanonicalJobJson(spec).
std::string JobHash(const JobSpec& spec);

// The dataset keys of a suite: the pre-training-set analogue first ("imagenet-val" /
// "fmnist-val"), then the 8 downstream datasets.
std::vector<std::string> SuiteEvalDatasets(const std::string& suite);
std::vector<std::string> SuiteDownstreamDatasets(const std::string& suite);

}  // namespace rib

#endif  // RIB_COMMON_SWEEP_H_
