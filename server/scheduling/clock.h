// Time source of the coordinator, injectable so lease expiry can be tested without
// sleeping (CONVENTIONS: Seams and fakes). Both implementations are thread-safe.
#ifndef RIB_SERVER_SCHEDULING_CLOCK_H_
#define RIB_SERVER_SCHEDULING_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rib::scheduling {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  // The process-wide wall clock.
  static Clock* Real();
};

// A clock that only moves when told to.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000))
      : now_(start) {}
  absl::Time Now() override {
    absl::MutexLock l(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock l(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rib::scheduling

#endif  // RIB_SERVER_SCHEDULING_CLOCK_H_
