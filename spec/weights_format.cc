#include "spec/weights_format.h"

#include <unistd.h>

#include "absl/strings/match.h"

namespace rib::spec {

bool IsTorchScriptWeights(const std::string& path, int fd) {
  for (const char* ext : {".pt", ".pth", ".ts", ".jit", ".torchscript"}) {
    if (absl::EndsWith(path, ext)) return true;
  }
  if (absl::EndsWith(path, ".safetensors")) return false;
  // TorchScript archives are zip files.
  char magic[4] = {0, 0, 0, 0};
  return ::pread(fd, magic, 4, 0) == 4 && magic[0] == 'P' && magic[1] == 'K' &&
         magic[2] == 3 && magic[3] == 4;
}

}  // namespace rib::spec
