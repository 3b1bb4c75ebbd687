// The method catalog (DESIGN §6): every method kind rib runs, whether it trains, whose
// weights it starts from, and its parameters with their types, ranges and defaults.
// The one list: the sweep parser validates and canonicalises with it, the engine reads
// its parameters through it, rib-run checks its --param flags with it.
//
//   kind     trains  reads       parameters [default]
//   pre      no                  -
//   ft       yes                 -
//   lp       yes                 trainable [reference] (reference | head)
//   lpft     yes     lp          -
//   lora     yes                 alpha [1] (> 0), rank [8] (integer in [1, 4096]),
//                                train_extra [reference] (reference | none)
//   vp       yes                 init [normal] (normal | zeros), pad [30] (in (0, 111]:
//                                the prompt's width in pixels at 224 px, scaled by the
//                                image side; it must leave some of the image uncovered)
//   lwf      yes                 alpha [1] (>= 0), temperature [2] (> 0)
//   ewc      yes                 fisher_dataset [pretrain-val] (pretrain-val | a
//                                dataset key), fisher_samples [1024] (integer in
//                                [1, 1000000]), lambda [10] (>= 0)
//   l2sp     yes                 lambda [1] (>= 0)
//   wise-ft  no      ft          alpha [0.5] (in [0, 1]; 0 = pre-trained, 1 = ft)
//   soup     no      its members include_pre [no] (no | yes)
//   otdd     no                  epsilon [0.1] (> 0), max_samples [10000] (integer in
//                                [10, 1000000]): an analysis job (kOtddKind below)
//
// The defaults reproduce the reference code (FieteLab/ImageNet-RIB, main.py and
// lib/prompter.py), the paper's rows; the other choices are the textbook variants:
//   lp {trainable: reference}: its "HeadOnly": a ViT trains everything outside the
//      patch embedding and the blocks (cls_token, pos_embed, the final norm, the head),
//      in train mode; a ResNet trains fc only, with batch norm in train mode (its
//      running statistics move). {trainable: head}: the head only, backbone in eval
//      mode (a linear probe of frozen features).
//   lora {train_extra: reference}: the adapters and, as the reference, cls_token,
//      pos_embed and the final norm (the head stays frozen), in train mode.
//      {train_extra: none}: the adapters only, in eval mode.
//   soup {include_pre: no}: the uniform average of the listed members (DESIGN §6);
//      {include_pre: yes}: θ_pre is averaged in as one more member (rib's only
//      behaviour before issue 15; it hashes as before).
//   vp {init: normal}: the prompt starts N(0, 1) (Bahng et al.'s PadPrompter), drawn
//      from the job's seed. {init: zeros}: it starts at 0 (step 0 = pre-trained).
//
//   ewc: CE + λ/2 Σ F (θ − θ_pre)², F the diagonal empirical Fisher at θ_pre: the mean
//      of squared per-example gradients over `fisher_samples` examples (a seeded sample,
//      the same for any number of ranks) of the train side of `fisher_dataset`'s split.
//      pretrain-val (the default) is the suite's pre-training validation set
//      (SuitePretrainDataset: imagenet-val, fmnist-val). The reference's "EWC" is a
//      uniform L2 penalty: rib's l2sp.
//
// A method reads its dependency's weights by role: the dependency_hashes (and the
// engine's dependency_weights) key "lp" for lpft, "ft" for wise-ft, each member's name
// for a soup. There is no parameter naming the dependency (the engine once accepted a
// "base" parameter the sweep grammar rejected; it is gone).
//
// Thread-safety: pure functions over a static table; thread-safe.
#ifndef RIB_SPEC_METHODS_H_
#define RIB_SPEC_METHODS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "spec/job_spec.h"

namespace rib::spec {

enum class ParamType { kInt, kReal, kChoice };

// Upper bound meaning "no upper bound".
inline constexpr double kUnbounded = 1e300;

struct ParamDef {
  std::string name;
  ParamType type = ParamType::kReal;
  double min = 0;
  bool min_inclusive = true;
  double max = kUnbounded;   // inclusive
  std::string default_text;  // canonical text
  std::vector<std::string> choices;  // kChoice: the values it may take
  // For a parameter added to a method that had one behaviour before: the value that
  // means that behaviour. It is left out of the job hash (spec/job_json.h), so a job
  // that asks for it hashes, and reuses stored results, as before the parameter was.
  std::string unhashed_value;
};

struct MethodDef {
  std::string kind;
  bool trains = false;
  std::string dependency_kind;   // "lp" for lpft, "ft" for wise-ft, "" otherwise
  std::vector<ParamDef> params;  // sorted by name
};

// Every kind, in DESIGN §6 order (pre ft lp lpft lora vp lwf ewc l2sp wise-ft soup).
const std::vector<MethodDef>& MethodCatalog();
// nullptr for an unknown kind.
const MethodDef* FindMethod(absl::string_view kind);

// The kinds, in catalog order.
const std::vector<std::string>& MethodKinds();
bool IsMethodKind(absl::string_view kind);
// True for methods that run an optimiser (all but pre, wise-ft and soup).
bool MethodTrains(absl::string_view kind);
// The kind whose weights `kind` starts from: "lp" for lpft, "ft" for wise-ft, "" else
// (a soup's dependencies are its members).
std::string MethodDependencyKind(absl::string_view kind);
// Whether `name` is a parameter of method kind `kind`.
bool IsMethodParam(absl::string_view kind, absl::string_view name);
// "in [1, 4096]", "> 0", ">= 0", "one of head, reference": a parameter's range as
// messages spell it.
std::string ParamRangeText(const ParamDef& param);

// Validates one method parameter and returns its canonical text (integers in decimal,
// reals by FormatCanonicalNumber). INVALID_ARGUMENT (the message names neither line
// nor field; callers prefix them) for unknown names or bad values.
absl::StatusOr<std::string> CanonicalMethodParam(absl::string_view kind,
                                                 absl::string_view name,
                                                 absl::string_view value);
// All of a method's parameters, canonical, with every default filled.
// INVALID_ARGUMENT "params.<name>: ..." on the first bad one.
absl::StatusOr<std::map<std::string, std::string>> CanonicalMethodParams(
    absl::string_view kind, const std::map<std::string, std::string>& params);
// What of canonical `params` a job's hash covers: all but those at their
// ParamDef::unhashed_value.
std::map<std::string, std::string> HashedMethodParams(
    absl::string_view kind, std::map<std::string, std::string> params);

// Whether a method of `kind` may be a soup's member. INVALID_ARGUMENT "'<member>' is a
// <kind> method; ..." saying why not for pre (θ_pre joins through include_pre), soup (no
// nesting) and vp (its prompt is not a weight: averaging would drop it).
absl::Status CheckSoupMember(absl::string_view member, absl::string_view kind);

// The kind of the analysis job that measures OTDD(pre-training set, finetune_dataset)
// on the pre-trained model's features (README, "Methods: rib and the paper"): no
// training, no accuracies; its result is a rib.v1.DatasetDistance. Not a fine-tuning
// method: the matrix shows it as a column of its rows, never as a matrix.
inline constexpr char kOtddKind[] = "otdd";
// Whether a job of `kind` measures a dataset distance (its success needs one): otdd.
bool MethodReportsDistance(absl::string_view kind);

// ewc's fisher_dataset value that means "the job's suite's pre-training validation set".
inline constexpr char kPretrainValidation[] = "pretrain-val";

// The dataset key ewc estimates its Fisher on: fisher_dataset, with pretrain-val
// resolved through the job's suite. INVALID_ARGUMENT for a bad parameter, or
// pretrain-val with an unknown suite.
absl::StatusOr<std::string> EwcFisherDataset(const JobSpec& job);
// Datasets the job's method reads besides its fine-tune and eval datasets (otdd: the
// suite's pre-training set; ewc: its Fisher dataset, which the runner opens whatever lambda is), for placing the job on a
// worker that has them. {} when the method's parameters are bad (validation reports
// those).
std::vector<std::string> MethodExtraDatasets(const JobSpec& job);

// A whole method of a job: its kind is known and every parameter valid. For specs that
// did not come through the sweep parser (rib-run's flags, a job from the wire).
// INVALID_ARGUMENT: "unknown method kind 'sgd' (expected one of ...)", "method 'x'
// (lora) takes no parameter 'rnk' (it takes: alpha, rank)", "method 'x' (lwf):
// parameter alpha='lots': expected a number, got 'lots'".
absl::Status ValidateMethod(const MethodSpec& method);

// A parameter's value for a validated method, its default when absent.
// INVALID_ARGUMENT (as ValidateMethod) when the value is bad or `name` is not a
// parameter of the kind of that type.
absl::StatusOr<int64_t> MethodParamInt(const MethodSpec& method, absl::string_view name);
absl::StatusOr<double> MethodParamReal(const MethodSpec& method, absl::string_view name);
absl::StatusOr<std::string> MethodParamChoice(const MethodSpec& method,
                                              absl::string_view name);

}  // namespace rib::spec

#endif  // RIB_SPEC_METHODS_H_
