#include "worker/engine/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "common/paths.h"
#include "common/status_macros.h"
#include "worker/engine/torch_errors.h"

namespace rib::engine {

absl::Status WriteCheckpointFile(const std::string& path, const TensorMap& tensors) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : tensors) {
    dict.insert(name, tensor.detach().to(torch::kCPU).contiguous());
  }
  std::vector<char> bytes;
  try {
    bytes = torch::pickle_save(c10::IValue(dict));
  } catch (const std::exception& e) {
    return ExceptionToStatus(e, absl::StrCat("serialising checkpoint ", path));
  }
  return WriteFileAtomically(path, std::string(bytes.begin(), bytes.end()));
}

absl::StatusOr<TensorMap> ReadCheckpointFile(const std::string& path) {
  RIB_ASSIGN_OR_RETURN(InputFile file, OpenRegularFile(path, "checkpoint"));
  std::vector<char> bytes(file.size());
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pread(file.fd(), bytes.data() + done, bytes.size() - done,
                              static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::DataLossError(absl::StrCat("reading checkpoint ", path, ": ",
                                              n < 0 ? std::strerror(errno) : "truncated"));
    }
    done += static_cast<size_t>(n);
  }
  TensorMap out;
  try {
    c10::IValue value = torch::pickle_load(bytes);
    if (!value.isGenericDict()) {
      return absl::DataLossError(absl::StrCat(path, " is not a rib checkpoint"));
    }
    for (const auto& entry : value.toGenericDict()) {
      if (!entry.key().isString() || !entry.value().isTensor()) {
        return absl::DataLossError(absl::StrCat(path, " is not a rib checkpoint"));
      }
      out[entry.key().toStringRef()] = entry.value().toTensor();
    }
  } catch (const std::exception& e) {
    // A file that does not unpickle is damaged, not a bug: DATA_LOSS with its path. The
    // unpickler's message is logged at debug level, not returned: it can quote bytes.
    const absl::Status detail = ExceptionToStatus(e, absl::StrCat("reading checkpoint ", path));
    return absl::Status(detail.code() == absl::StatusCode::kResourceExhausted
                            ? detail.code()
                            : absl::StatusCode::kDataLoss,
                        absl::StrCat(path, " is not a rib checkpoint (it does not unpickle)"));
  }
  return out;
}

}  // namespace rib::engine
