// How a weights file is told to be TorchScript, in one place: the coordinator refuses
// TorchScript at submit unless allowed (a TorchScript archive is code the worker runs)
// and the engine picks its loader by the same rule, so the two cannot disagree.
//
// Thread-safety: pure functions (positional reads only); thread-safe.
#ifndef RIB_SPEC_WEIGHTS_FORMAT_H_
#define RIB_SPEC_WEIGHTS_FORMAT_H_

#include <string>

namespace rib::spec {

// The architecture name that wraps a scripted module itself (engine/weights.h).
inline constexpr char kTorchScriptArch[] = "torchscript";

// True for a `torch.save`d state_dict (torchvision's .pth): a zip archive whose central
// directory names a <name>/data.pkl and neither <name>/code/ nor <name>/constants.pkl,
// which TorchScript archives hold. Such a file is data, read by the engine's restricted
// unpickler (engine/pth_archive.h), never code. False for anything unreadable.
bool IsTorchStateDictArchive(int fd);

// True for a TorchScript archive: not a state_dict archive (above), and named .pt .pth
// .ts .jit or .torchscript, or, unless named .safetensors, starting with the zip magic
// "PK\3\4" (read from `fd` at offset 0; the descriptor's offset is left alone).
bool IsTorchScriptWeights(const std::string& path, int fd);

}  // namespace rib::spec

#endif  // RIB_SPEC_WEIGHTS_FORMAT_H_
