// A counter that wakes waiters when it grows: how repositories tell long-polls and
// WatchSweep that something happened. Thread-safe.
#ifndef RIB_SERVER_STORAGE_CHANGE_SIGNAL_H_
#define RIB_SERVER_STORAGE_CHANGE_SIGNAL_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rib::storage {

class ChangeSignal {
 public:
  uint64_t value() {
    absl::MutexLock l(&mu_);
    return value_;
  }
  void Notify() {
    absl::MutexLock l(&mu_);
    ++value_;
  }
  // Blocks until the value differs from `seen` or `timeout` passes; returns the value.
  uint64_t WaitChanged(uint64_t seen, absl::Duration timeout) {
    absl::MutexLock l(&mu_);
    WaitArg arg{&value_, seen};
    mu_.AwaitWithTimeout(absl::Condition(&Differs, &arg), timeout);
    return value_;
  }

 private:
  struct WaitArg {
    const uint64_t* value;
    uint64_t seen;
  };
  static bool Differs(WaitArg* arg) { return *arg->value != arg->seen; }

  absl::Mutex mu_;
  uint64_t value_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rib::storage

#endif  // RIB_SERVER_STORAGE_CHANGE_SIGNAL_H_
