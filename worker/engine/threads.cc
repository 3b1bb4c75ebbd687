#include "worker/engine/threads.h"

#include <dlfcn.h>
#include <torch/torch.h>

#include <algorithm>
#include <thread>

#include "worker/engine/vit.h"

namespace rib::engine {
namespace {

using SetThreadsFn = void (*)(int);

// OpenBLAS's runtime setter, looked up in the process (libtorch links the BLAS); null
// with another BLAS.
SetThreadsFn OpenBlasSetThreads() {
  static const SetThreadsFn fn =
      reinterpret_cast<SetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  return fn;
}

}  // namespace

ThreadPolicy PreferredThreadPolicy(const ClassifierImpl& model) {
  if (const auto* vit = dynamic_cast<const VisionTransformerImpl*>(&model)) {
    if (vit->config().embed_dim >= 256) return ThreadPolicy::kBlas;
  }
  return ThreadPolicy::kOpenMp;
}

void SetCpuThreads(int threads, ThreadPolicy policy) {
  if (threads <= 0)
    threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  SetThreadsFn blas = OpenBlasSetThreads();
  if (blas == nullptr) {  // one pool to size
    torch::set_num_threads(threads);
    return;
  }
  const bool to_blas = policy == ThreadPolicy::kBlas;
  torch::set_num_threads(to_blas ? 1 : threads);
  blas(to_blas ? threads : 1);
}

std::string BlasThreadControl() {
  return OpenBlasSetThreads() != nullptr ? "openblas" : "";
}

std::string BlasCoreName() {
  using CoreNameFn = char* (*)();
  static const CoreNameFn fn =
      reinterpret_cast<CoreNameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char* name = fn == nullptr ? nullptr : fn();
  return name == nullptr ? "" : name;
}

}  // namespace rib::engine
