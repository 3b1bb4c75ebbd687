#include "server/service/long_poll.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace rib::service {

LongPoll::LongPoll(storage::ChangeNotifier* changes, storage::ChangeNotifier::Topic topic,
                   LongPollOptions options)
    : changes_(changes), topic_(topic), options_(options) {
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    attempters_.emplace_back([this] { AttemptLoop(); });
  }
  waker_ = std::thread([this] { WakerLoop(); });
}

LongPoll::~LongPoll() {
  std::vector<Call> left;
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  waker_.join();
  for (std::thread& t : attempters_) t.join();
  // The attempt threads are gone: what is still in was never answered.
  absl::MutexLock l(&mu_);
  for (Call& c : fresh_) c.expire(true);
  for (Call& c : ready_) c.expire(true);
  for (Call& c : parked_) c.expire(true);
  fresh_.clear();
  ready_.clear();
  parked_.clear();
  in_ = 0;
}

absl::Status LongPoll::Add(Attempt attempt, Expire expire, absl::Time deadline,
                           std::shared_ptr<const std::atomic<bool>> cancelled) {
  absl::MutexLock l(&mu_);
  if (stop_) return absl::UnavailableError("the coordinator is shutting down");
  if (in_ >= options_.max_waiting) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the coordinator already holds ", in_, " waiting calls (at most ",
        options_.max_waiting, "); retry later"));
  }
  ++in_;
  fresh_.push_back(Call{std::move(attempt), std::move(expire), deadline,
                        std::move(cancelled), 0, absl::InfinitePast()});
  return absl::OkStatus();
}

size_t LongPoll::size() {
  absl::MutexLock l(&mu_);
  return in_;
}

bool LongPoll::HasWorkLocked() const {
  const int max_retrying = std::max(1, options_.threads / 2);
  return stop_ || !fresh_.empty() || (!ready_.empty() && retrying_ < max_retrying);
}

void LongPoll::AttemptLoop() {
  for (;;) {
    Call call;
    bool retry = false;
    {
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(
          +[](LongPoll* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
            return p->HasWorkLocked();
          },
          this));
      if (stop_) return;  // the destructor expires what is left
      std::deque<Call>& from = fresh_.empty() ? ready_ : fresh_;
      retry = &from == &ready_;
      if (retry) ++retrying_;
      call = std::move(from.front());
      from.pop_front();
    }
    bool answered = true;
    // Every call gets one attempt, even with a deadline already past (wait 0).
    const bool first = call.tried_at == absl::InfinitePast();
    if (call.Cancelled() || (!first && absl::Now() >= call.deadline)) {
      call.expire(call.Cancelled());
    } else {
      // Read before the attempt: a change during it is seen as a change after it.
      call.seen = changes_->Counter(topic_);
      call.tried_at = absl::Now();
      answered = call.attempt();
      if (!answered && absl::Now() >= call.deadline) {
        call.expire(false);
        answered = true;
      }
    }
    absl::MutexLock l(&mu_);
    if (retry) --retrying_;
    if (answered) {
      --in_;
    } else if (changes_->Counter(topic_) != call.seen) {
      call.by_change = true;
      ready_.push_back(std::move(call));
    } else {
      if (retry && call.by_change) SendChangeWokenBackLocked(call.seen);
      call.by_change = false;
      parked_.push_back(std::move(call));
    }
  }
}

void LongPoll::SendChangeWokenBackLocked(uint64_t seen) {
  std::deque<Call> still;
  for (Call& c : ready_) {
    if (c.by_change) {
      c.by_change = false;
      c.seen = seen;
      parked_.push_back(std::move(c));
    } else {
      still.push_back(std::move(c));
    }
  }
  ready_.swap(still);
}

void LongPoll::WakerLoop() {
  uint64_t seen = changes_->Counter(topic_);
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      if (stop_) return;
    }
    seen = changes_->WaitForChange(topic_, seen, options_.tick);
    std::vector<Call> expired;
    {
      absl::MutexLock l(&mu_);
      const absl::Time now = absl::Now();
      auto keep = parked_.begin();
      for (auto it = parked_.begin(); it != parked_.end(); ++it) {
        if (it->Cancelled() || now >= it->deadline) {
          expired.push_back(std::move(*it));
        } else if (it->seen != seen || now - it->tried_at >= options_.poll) {
          it->by_change = it->seen != seen;
          ready_.push_back(std::move(*it));
        } else {
          if (keep != it) *keep = std::move(*it);
          ++keep;
        }
      }
      parked_.erase(keep, parked_.end());
      in_ -= expired.size();
    }
    // Answered outside the lock: an answer may take gRPC's locks.
    for (Call& c : expired) c.expire(c.Cancelled());
  }
}

}  // namespace rib::service
