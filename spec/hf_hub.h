// Weights by name from a Hugging Face hub cache (issue 17.1, 17.3): a sweep's
// `weights: hf-hub:timm/NAME[@REV]` is resolved at submit, on the coordinator, to one
// snapshot of the cache, and its config.json supplies arch, num_classes and
// preprocessing wherever the sweep file does not set them. Nothing is ever downloaded:
// a model or revision missing from the cache is an error naming the path searched.
//
// The cache layout is the hub's (huggingface_hub's `scan-cache` format):
//   <cache>/models--<org>--<name>/refs/<ref>             text: a 40-hex commit
//   <cache>/models--<org>--<name>/snapshots/<commit>/model.safetensors   (often a
//                                        symlink to ../../blobs/<sha256>, which works)
//   <cache>/models--<org>--<name>/snapshots/<commit>/config.json          (optional)
// REV is a ref name (default "main") or a commit hash (then refs/ is not read).
//
// Workers read the snapshot under their artifact root at
// HubMirrorPath(ref, commit) = hf-hub/models--<org>--<name>/snapshots/<commit>/
// model.safetensors (spec/artifacts.h): the coordinator's cache mirrored there (copied,
// synced or mounted; a symlink that leaves the artifact root is refused). The job spec
// stores that path, the file's sha256 (so the job hash changes with the snapshot), and
// the arch, num_classes and preprocessing used, so it is the same for every worker.
//
// Precedence, per setting: the sweep file > config.json > the published weights table /
// family defaults (spec/preprocessing.h) for the resolved arch.
//
// Thread-safety: pure functions but ResolveHubSnapshot, which reads the cache (and is
// thread-safe too: no shared state).
#ifndef RIB_SPEC_HF_HUB_H_
#define RIB_SPEC_HF_HUB_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "spec/job_spec.h"

namespace rib::spec {

inline constexpr char kHfHubScheme[] = "hf-hub:";

// huggingface_hub's default cache folder, given the values of $HF_HOME and $HOME
// (nullptr or "" when unset; the caller reads the environment): $HF_HOME/hub, else
// $HOME/.cache/huggingface/hub, else "" (no cache).
std::string DefaultHubCacheDir(const char* hf_home, const char* home);

// True when `weights` names a hub model ("hf-hub:..."), valid or not.
bool IsHubWeights(absl::string_view weights);

struct HubReference {
  std::string org;       // "timm"
  std::string name;      // "vit_base_patch16_224.augreg_in21k_ft_in1k"
  std::string revision;  // "main" unless given after '@'
  std::string RepoId() const { return org + "/" + name; }
};

// Parses "hf-hub:<org>/<name>[@<rev>]". INVALID_ARGUMENT naming what is wrong when the
// org, name or revision is missing or not a name ([A-Za-z0-9._-]+).
absl::StatusOr<HubReference> ParseHubReference(absl::string_view weights);

// Preprocessing settings of which any subset is given: the sweep file's keys, or a
// config.json's pretrained_cfg.
struct PartialPreprocessing {
  std::optional<int> image_size;
  std::optional<double> crop_pct;
  std::optional<std::vector<double>> mean, std;
  std::optional<std::string> interpolation;
  // Each set field replaces the one in `p`.
  void ApplyTo(Preprocessing* p) const;
};

// What a sweep file set itself for a hub model (the rest comes from the snapshot).
struct ModelOverrides {
  std::optional<std::string> arch;
  std::optional<int> num_classes;
  PartialPreprocessing preprocessing;
};

// A snapshot's config.json, as timm writes it (push_to_hf_hub): "architecture",
// "num_classes", and "pretrained_cfg" {input_size [3, H, W], interpolation, crop_pct,
// crop_mode, mean, std}. Other keys are ignored.
struct HubConfig {
  std::optional<std::string> architecture;
  std::optional<int> num_classes;
  PartialPreprocessing preprocessing;
};

// INVALID_ARGUMENT naming `source` and the key for malformed JSON or a value of the
// wrong type or range (non-square input_size, crop_pct outside (0, 1], an
// interpolation rib does not implement, a crop_mode other than "center", ...).
absl::StatusOr<HubConfig> ParseHubConfig(absl::string_view json,
                                         absl::string_view source);

struct HubSnapshot {
  std::string commit;        // 40 hex
  std::string weights_path;  // relative to the cache: models--.../snapshots/<c>/model.safetensors
  bool has_config = false;   // config.json was present
  HubConfig config;
};

// The snapshot directory, relative to the cache root or the mirror: models--<org>--<name>/
// snapshots/<commit>.
std::string HubSnapshotDir(const HubReference& ref, absl::string_view commit);

// Resolves `ref` in the cache at `cache_dir`: refs/<rev> (unless rev is a 40-hex
// commit), the snapshot's model.safetensors, and its config.json when present. Files are
// opened confined to `cache_dir` (common/paths.h). Errors, each naming the model and the
// path searched: INVALID_ARGUMENT when the model, the ref, the snapshot or its
// model.safetensors is missing, or refs/<rev> does not hold a commit hash, or
// config.json is malformed; PERMISSION_DENIED when a path leaves the cache.
absl::StatusOr<HubSnapshot> ResolveHubSnapshot(const std::string& cache_dir,
                                               const HubReference& ref);

// Fills `model` (whose weights is the hf-hub reference) from `snapshot`: weights =
// HubMirrorPath, arch, num_classes and preprocessing by the precedence above;
// num_classes falls back on `default_num_classes` (the suite's), arch has no fallback.
// INVALID_ARGUMENT naming the model when neither the sweep nor config.json gives an
// arch.
absl::Status ApplyHubSnapshot(const HubReference& ref, const HubSnapshot& snapshot,
                              const ModelOverrides& overrides, int default_num_classes,
                              ModelSpec* model);

}  // namespace rib::spec

#endif  // RIB_SPEC_HF_HUB_H_
