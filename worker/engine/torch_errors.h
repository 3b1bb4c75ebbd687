// LibTorch reports errors by throwing (c10::Error, and std::exception from the standard
// library under it). The engine converts them to a Status at one boundary per entry
// point (TorchBoundary around RunJob and each Pretrain recipe), so a throw never ends
// in std::terminate, and only where a narrower place knows more than the boundary or
// recovers: the training step (trainer.cc), the evaluation forward pass (evaluate.cc),
// the file being read or written (checkpoint.cc, weights.cc). The boundary then adds
// what it knows (the job) to the status such a place returned.
//
// Thread-safe (no state).
#ifndef RIB_WORKER_ENGINE_TORCH_ERRORS_H_
#define RIB_WORKER_ENGINE_TORCH_ERRORS_H_

#include <exception>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rib::engine {

// `e` as a Status: RESOURCE_EXHAUSTED for out of memory (c10::OutOfMemoryError,
// std::bad_alloc), otherwise `code` (INTERNAL unless the caller knows better, e.g.
// DATA_LOSS for a file that does not parse). Message: "<context>: <first line of the
// exception's message>" (without torch's backtrace; the whole message is logged at
// DEBUG). The status is marked as converted from an exception (see TorchBoundary).
absl::Status ExceptionToStatus(const std::exception& e, absl::string_view context,
                               absl::StatusCode code = absl::StatusCode::kInternal);

namespace internal {
// Inside a catch block: the exception being handled, as ExceptionToStatus (INTERNAL
// "unknown exception" for one that is not a std::exception).
absl::Status CurrentExceptionToStatus(absl::string_view context);
// `status` with `context` prefixed when ExceptionToStatus made it, and the mark
// removed so that an enclosing boundary does not prefix it again; others unchanged.
absl::Status AddBoundaryContext(const absl::Status& status, absl::string_view context);
inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace internal

// Runs fn() (returning absl::Status or absl::StatusOr<T>) as an entry point's boundary:
// an exception it throws comes back as ExceptionToStatus(e, context); a status it
// returns that was converted from an exception further down gets `context` prefixed
// ("job m/ft/d: training step 3 of 12 (epoch 1): mat1 and mat2 shapes cannot be
// multiplied ..."); any other result passes unchanged.
// Note: rib::Annotate builds a new Status and so drops the mark; a converted status
// annotated on its way up reaches the boundary as an ordinary one.
template <typename Fn>
auto TorchBoundary(absl::string_view context, Fn&& fn) -> decltype(fn()) {
  try {
    auto result = std::forward<Fn>(fn)();
    if (!result.ok())
      return internal::AddBoundaryContext(internal::StatusOf(result), context);
    return result;
  } catch (...) {
    return internal::CurrentExceptionToStatus(context);
  }
}

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_TORCH_ERRORS_H_
