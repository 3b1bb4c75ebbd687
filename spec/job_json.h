// A job's two JSON forms.
//
// 1. The canonical job JSON and the job hash: a job's identity. Equal hashes share
//    results (a sweep resubmitted reuses its succeeded cells), so the text must never
//    change for an existing configuration. What it covers, exactly what decides the
//    numbers a job produces:
//   * model: arch, weights_digest (the content, not the path), num_classes,
//     preprocessing — NOT the model's display name;
//   * method: kind and canonical params (defaults spelled out, spec/methods.h), and
//     the hashes of the jobs whose weights it reads (sorted; lpft → lp, wise-ft → ft,
//     soup → members) — NOT the method's display name nor the soup's member names;
//   * finetune_dataset, the sorted eval datasets, split, test_fraction (only with split
//     heldout: reference ignores it), seed (it seeds the split), suite;
//   * the training config only for methods that train (not pre, wise-ft, soup); the
//     settings that change evaluation numbers (precision, skip_corrupt) for every job,
//     and for split heldout (but otdd) the evaluation protocol, eval.images =
//     "not-trained-on" (issue 15.9: every image of j not trained on, bits over all of
//     j); the hashes of heldout jobs changed with it, deliberately;
//   * objectnet_mode only when it is "reference"; devices only when not 1 and the job
//     trains batch-norm statistics (they depend on the device count).
//   NOT covered: devices otherwise (DESIGN §6: N data-parallel ranks with the same
//   global batch produce the same weights as one, so a result computed on 1 device
//   answers for 4),
//   eval_batch_size (a throughput knob: counts do not depend on it), priority and
//   max_attempts (scheduling), the weights path (the digest stands for it).
//
// 2. The stored job spec: every field, self-describing names (so SQL can look inside
//    the coordinator's `jobs.spec` jsonb column), numbers that read back exactly.
//
// Thread-safety: pure functions; thread-safe.
#ifndef RIB_SPEC_JOB_JSON_H_
#define RIB_SPEC_JOB_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "spec/job_spec.h"

namespace rib::spec {

// Canonical JSON of a job's configuration: keys sorted, every default spelled out,
// numbers in one fixed format (FormatCanonicalNumber), no whitespace. Equal
// configurations give equal text. Method params are canonicalised
// (CanonicalMethodParams) when they are valid, so a spec built by hand hashes like the
// parsed one; an invalid spec still gets a deterministic (different) text.
std::string CanonicalJobJson(const JobSpec& spec);
// Hex SHA-256 of CanonicalJobJson(spec): the job's identity.
std::string JobHash(const JobSpec& spec);

// The stored form: every field of the struct.
std::string JobSpecToJson(const JobSpec& spec);
// Reads JobSpecToJson's text (from any JSON writer: key order, whitespace and number
// spelling do not matter); a missing field keeps the struct's default.
// INVALID_ARGUMENT naming the field on malformed text or a value of the wrong type
// (DATA_LOSS for stored rows is the caller's call).
absl::StatusOr<JobSpec> JobSpecFromJson(absl::string_view json);

}  // namespace rib::spec

#endif  // RIB_SPEC_JOB_JSON_H_
