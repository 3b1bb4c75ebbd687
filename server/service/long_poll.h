// Long-polls without a thread each (issue 16): a call that waits for a change (an
// AcquireJob until a job fits) is parked here as two closures, and a few threads serve
// every parked call. A waker thread watches one ChangeNotifier topic: when its counter
// moves, or `poll` after a call's last attempt, the call is attempted again on one of
// `threads` attempt threads; when its deadline passes or it is cancelled, it expires.
// So 1,000 waiting workers cost 1,000 small records, not 1,000 threads, and at most
// `threads` database connections are busy with long-polls at once.
//
// A change wakes the parked calls in the order they parked, and the first of them that
// finds nothing (while the counter has not moved again) sends the rest of that change's
// calls back to wait: one change costs the attempts it can serve plus about one empty
// one (at most one per re-attempt thread running), not one per parked call. A call
// whose needs differ from the one that found nothing (another device kind, other
// datasets) may so wait for the next change or its `poll`, which still attempts every
// parked call that long after its last attempt.
//
// Thread-safe. Each call gets exactly one of: an attempt that returns true, or one
// call of its `expire` (deadline, cancel, shutdown) — never both, never twice.
#ifndef RIB_SERVER_SERVICE_LONG_POLL_H_
#define RIB_SERVER_SERVICE_LONG_POLL_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/storage/change_notifier.h"

namespace rib::service {

struct LongPollOptions {
  // Threads that run attempts; each holds at most one database connection at a time.
  // Default 4: two per core of the machine the targets are set for, enough to keep
  // the database busy while leaving the rest of the pool to other calls.
  int threads = 4;
  // A parked call is attempted again this long after its last attempt even when no
  // change arrives (a lease expired by time, a missed NOTIFY). Default 1 s.
  absl::Duration poll = absl::Seconds(1);
  // How often the waker looks at deadlines and cancellations when nothing changes:
  // the most a deadline or a cancel is answered late. Default 20 ms.
  absl::Duration tick = absl::Milliseconds(20);
  // Calls waiting at most; Add refuses more with RESOURCE_EXHAUSTED. Default 100,000
  // (a parked call costs about a kilobyte).
  size_t max_waiting = 100000;
};

class LongPoll {
 public:
  // Runs on an attempt thread: true when it answered the call (the call is dropped),
  // false to park it until the next change or `poll`.
  using Attempt = std::function<bool()>;
  // Answers the call without a result: its deadline passed (`cancelled` false), it was
  // cancelled or the LongPoll is shutting down (`cancelled` true).
  using Expire = std::function<void(bool cancelled)>;

  // `changes` is not owned and must outlive the LongPoll. Starts its threads.
  LongPoll(storage::ChangeNotifier* changes, storage::ChangeNotifier::Topic topic,
           LongPollOptions options);
  // Expires every call still parked or queued (cancelled = true), then joins.
  ~LongPoll();
  LongPoll(const LongPoll&) = delete;
  LongPoll& operator=(const LongPoll&) = delete;

  // Queues the call for its first attempt (at once, on an attempt thread). `cancelled`
  // (may be null) is read before each attempt and at each tick. RESOURCE_EXHAUSTED
  // naming the limit when max_waiting calls are in; the call is then not taken (the
  // caller answers it).
  absl::Status Add(Attempt attempt, Expire expire, absl::Time deadline,
                   std::shared_ptr<const std::atomic<bool>> cancelled);
  // Calls in now (queued, being attempted or parked).
  size_t size();

 private:
  struct Call {
    Attempt attempt;
    Expire expire;
    absl::Time deadline;
    std::shared_ptr<const std::atomic<bool>> cancelled;
    uint64_t seen = 0;       // the topic's counter before the last attempt
    absl::Time tried_at;     // when the last attempt started
    bool by_change = false;  // queued again because the counter moved (not by `poll`)
    bool Cancelled() const { return cancelled != nullptr && cancelled->load(); }
  };
  void AttemptLoop();
  // After a re-attempt woken by a change found nothing at counter `seen`: the calls that
  // change woke wait again, as if attempted at `seen`.
  void SendChangeWokenBackLocked(uint64_t seen) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WakerLoop();

  storage::ChangeNotifier* const changes_;
  const storage::ChangeNotifier::Topic topic_;
  const LongPollOptions options_;

  absl::Mutex mu_;
  // First attempts go before re-attempts: after a change every parked call is due
  // again (most find nothing), and a call that just came must not wait behind them.
  std::deque<Call> fresh_ ABSL_GUARDED_BY(mu_);
  std::deque<Call> ready_ ABSL_GUARDED_BY(mu_);
  // Re-attempts being run; at most half the threads (at least one) run them, so the
  // others stay free for new calls.
  int retrying_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Call> parked_ ABSL_GUARDED_BY(mu_);
  size_t in_ ABSL_GUARDED_BY(mu_) = 0;  // fresh_ + ready_ + parked_ + being attempted
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> attempters_;
  std::thread waker_;
};

}  // namespace rib::service

#endif  // RIB_SERVER_SERVICE_LONG_POLL_H_
