// CPU threads for the engine's compute.
//
// libtorch runs element-wise ops and oneDNN convolutions on its OpenMP pool; matrix
// products go to the BLAS, which on Debian is OpenBLAS built with pthreads: a second pool
// of its own. Both pools busy-wait for a while after each task, so with both sized to the
// cores they steal cycles from each other at every switch between a matmul and anything
// else. SetCpuThreads gives the cores to one pool and leaves the other at one thread, per
// a policy measured by bench/engine (2 cores, README "Engine benchmark"):
//   kOpenMp  OpenMP n, BLAS 1: small models and convolutions (fmnist_vit training
//            192 → 340 images/s, fmnist_resnet evaluation 1358 → 1695);
//   kBlas    OpenMP 1, BLAS n: models whose time is in large matrix products
//            (ViT-S/16 training 2.7 → 5.1 images/s, evaluation 9.0 → 13.1).
// The policy changes results in the last bits on some CPUs: OpenBLAS picks its kernels
// and blockings per CPU family and per thread count (with its AVX2 kernels, the ones AMD
// Zen 1-3 and Intel Haswell-class CPUs get, a 2-thread product differs from a 1-thread
// one by rounding; its AVX-512 kernels happen to agree). So a result is bit-reproducible
// for the same binary, CPU family, thread count and policy, and equal only to float
// rounding otherwise (README, "Determinism").
// Process-wide; call before the work, from one thread.
#ifndef RIB_WORKER_ENGINE_THREADS_H_
#define RIB_WORKER_ENGINE_THREADS_H_

#include <string>

#include "worker/engine/model.h"

namespace rib::engine {

enum class ThreadPolicy { kOpenMp, kBlas };

// kBlas for ViTs of width ≥ 256 (ViT-S and larger), kOpenMp otherwise.
ThreadPolicy PreferredThreadPolicy(const ClassifierImpl& model);

// `threads` ≤ 0 means all hardware threads.
void SetCpuThreads(int threads, ThreadPolicy policy);

// "openblas" when the process's BLAS can be told its thread count, "" otherwise
// (then only the OpenMP side is set).
std::string BlasThreadControl();

// The kernel family OpenBLAS chose for this CPU ("Haswell", "Zen", "SkylakeX",
// "Cooperlake", ...; OPENBLAS_CORETYPE overrides it), "" with another BLAS. Results
// depend on it in the last bits, so runs log it.
std::string BlasCoreName();

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_THREADS_H_
