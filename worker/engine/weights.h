// Loading and saving a Classifier's state (parameters and buffers, torch's state_dict
// names) as safetensors, torch.save state_dicts (torchvision's .pth), and TorchScript
// files for evaluation.
//
// Loading is strict: every tensor of the module must be in the file with the module's
// shape, and the file may hold nothing else. The error (INVALID_ARGUMENT, prefixed with
// the file path) names the FIRST mismatch in module order — a missing tensor, a shape
// difference, then an unexpected tensor — and how many more there are. The only
// tolerated difference is a missing BatchNorm `num_batches_tracked` (some exporters drop
// it; it does not affect evaluation). Floating tensors of any stored precision (F16,
// BF16, F32, F64) are converted to the module's dtype.
//
// Thread-safety: the functions are thread-safe for distinct modules; a module must not
// be used by another thread while it is being loaded.
#ifndef RIB_WORKER_ENGINE_WEIGHTS_H_
#define RIB_WORKER_ENGINE_WEIGHTS_H_

#include <torch/torch.h>

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/paths.h"
#include "worker/engine/model.h"
#include "worker/engine/safetensors.h"

namespace rib::engine {

// The module's state as torch's state_dict(): named_parameters(), then named_buffers().
// The tensors alias the module's (no copy).
NamedTensors ModuleState(const torch::nn::Module& module);

// Copies `tensors` into `module` with the strict check above. `source` names where the
// tensors came from, for messages. On error the module is unchanged.
absl::Status LoadModuleState(torch::nn::Module& module, const NamedTensors& tensors,
                             const std::string& source);

// Loads a .safetensors file into an existing module (names and shapes are checked
// against the header before any data is read). NOT_FOUND if the file does not exist,
// INVALID_ARGUMENT if it is not a regular file (common/paths.h's OpenRegularFile).
absl::Status LoadSafetensorsInto(torch::nn::Module& module, const std::string& path);
// The same from a file already opened (OpenUnder: confined to the artifact root).
absl::Status LoadSafetensorsInto(torch::nn::Module& module, InputFile file);

// Copies a TorchScript module's parameters and buffers (by name) into `module`.
absl::Status LoadTorchScriptInto(torch::nn::Module& module, const std::string& path);
absl::Status LoadTorchScriptInto(torch::nn::Module& module, const InputFile& file);

// Copies a `torch.save`d state_dict (torchvision's .pth; pth_archive.h, no code runs)
// into `module`, with the strict check above.
absl::Status LoadTorchStateDictInto(torch::nn::Module& module, const InputFile& file);

// Builds `arch` (CreateModel) and loads `path` into it: .safetensors, a torch.save
// state_dict archive (spec::IsTorchStateDictArchive, whatever its name), or a TorchScript
// archive (.pt .pth .ts .jit .torchscript, or any zip archive) whose parameter names
// match the architecture. With arch "torchscript" the scripted module itself is wrapped
// for evaluation only: its forward gives the logits, Features() returns them too, Head()
// is the identity and no parameter is exposed (so no method that trains can use it).
// Which files are TorchScript is spec/weights_format.h's rule, the one the coordinator
// refuses without --allow-torchscript. Errors never quote the file's contents: a
// TorchScript archive that does not load is "<path>: not a loadable TorchScript file"
// (the loader's message is logged at debug level).
absl::StatusOr<Classifier> LoadClassifier(const std::string& arch, int64_t num_classes,
                                          const std::string& path);
// The same from a file already opened (OpenUnder: confined to the artifact root).
absl::StatusOr<Classifier> LoadClassifier(const std::string& arch, int64_t num_classes,
                                          InputFile file);

// Writes the model's state as F32 safetensors (integer buffers stay I64), atomically.
// `metadata` goes into __metadata__ (plus "format": "pt").
absl::Status SaveClassifier(const Classifier& model, const std::string& path,
                            const std::map<std::string, std::string>& metadata = {});

// Copies every parameter and buffer of `from` into `to` (same architecture; checked as
// a load). For a frozen teacher, θ_pre snapshots, weight averaging.
absl::Status CopyClassifierState(const ClassifierImpl& from, ClassifierImpl& to);

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_WEIGHTS_H_
