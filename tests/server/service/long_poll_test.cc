// service::LongPoll with a ChangeSignal-backed notifier: every call is answered exactly
// once — by an attempt, at its deadline, on cancel or at shutdown — parked calls are
// attempted again when the topic's counter moves, and the limit on waiting calls is
// refused with RESOURCE_EXHAUSTED naming it. No database: the notifier is the seam.
#include "server/service/long_poll.h"

#include <atomic>
#include <memory>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/change_signal.h"

namespace rib::service {
namespace {

using storage::ChangeNotifier;
using ::testing::HasSubstr;

class SignalNotifier : public ChangeNotifier {
 public:
  uint64_t Counter(Topic) override { return signal_.value(); }
  uint64_t WaitForChange(Topic, uint64_t seen, absl::Duration timeout) override {
    return signal_.WaitChanged(seen, timeout);
  }
  void Notify() { signal_.Notify(); }

 private:
  storage::ChangeSignal signal_;
};

// Counts how a call ended.
struct Outcome {
  std::atomic<int> attempts{0};
  std::atomic<int> answered{0};   // by an attempt returning true
  std::atomic<int> expired{0};
  std::atomic<int> cancelled{0};  // expire(true)
  absl::Notification done;
};

LongPoll::Attempt AnswerWhen(Outcome* o, std::atomic<bool>* ready) {
  return [o, ready] {
    ++o->attempts;
    if (!ready->load()) return false;
    ++o->answered;
    o->done.Notify();
    return true;
  };
}

LongPoll::Expire Expire(Outcome* o) {
  return [o](bool cancelled) {
    ++(cancelled ? o->cancelled : o->expired);
    o->done.Notify();
  };
}

LongPollOptions Quick() {
  LongPollOptions o;
  o.threads = 2;
  o.poll = absl::Seconds(30);  // only changes, deadlines and cancels wake a call here
  o.tick = absl::Milliseconds(5);
  return o;
}

TEST(LongPollTest, AParkedCallIsAttemptedAgainWhenTheTopicChanges) {
  SignalNotifier changes;
  LongPoll poll(&changes, ChangeNotifier::Topic::kQueue, Quick());
  Outcome o;
  std::atomic<bool> ready{false};
  ASSERT_TRUE(poll.Add(AnswerWhen(&o, &ready), Expire(&o),
                       absl::Now() + absl::Seconds(20), nullptr)
                  .ok());
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(o.attempts.load(), 1);  // parked: no change, poll is 30 s
  EXPECT_EQ(poll.size(), 1u);
  ready = true;
  changes.Notify();
  ASSERT_TRUE(o.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(o.answered.load(), 1);
  EXPECT_EQ(o.expired.load() + o.cancelled.load(), 0);
  EXPECT_EQ(o.attempts.load(), 2);
  // The call leaves the count once its attempt has returned, just after it answered.
  const absl::Time until = absl::Now() + absl::Seconds(5);
  while (poll.size() != 0 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(poll.size(), 0u);
}

// Waits (up to 5 s, a hang guard) until `pred` holds.
template <typename Pred>
bool Eventually(Pred pred) {
  const absl::Time until = absl::Now() + absl::Seconds(5);
  while (!pred() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(1));
  return pred();
}

// A queue of `jobs` identical jobs: an attempt takes one if any is left.
LongPoll::Attempt TakeAJob(std::atomic<int>* jobs, std::atomic<int>* attempts,
                           std::atomic<int>* answered) {
  return [=] {
    ++*attempts;
    int left = jobs->load();
    while (left > 0 && !jobs->compare_exchange_weak(left, left - 1)) {
    }
    if (left <= 0) return false;
    ++*answered;
    return true;
  };
}

// The herd: after a change the parked calls are attempted in order until one finds
// nothing, and the rest wait again. Three jobs for 50 parked calls cost 3 attempts
// that take them and 1 that finds none (one re-attempt thread here: threads = 2);
// before, all 50 were attempted. A change that brings nothing costs one attempt.
TEST(LongPollTest, AChangeCostsTheAttemptsItServesAndOneEmptyOne) {
  SignalNotifier changes;
  LongPoll poll(&changes, ChangeNotifier::Topic::kQueue, Quick());
  constexpr int kCalls = 50;
  std::atomic<int> jobs{0}, attempts{0}, answered{0}, expired{0};
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(poll.Add(TakeAJob(&jobs, &attempts, &answered),
                         [&](bool) { ++expired; }, absl::Now() + absl::Seconds(20),
                         nullptr)
                    .ok());
  }
  ASSERT_TRUE(Eventually([&] { return attempts.load() == kCalls; }));
  absl::SleepFor(absl::Milliseconds(50));  // the last first attempt parks its call

  jobs = 3;
  changes.Notify();
  ASSERT_TRUE(Eventually([&] { return answered.load() == 3; }));
  absl::SleepFor(absl::Milliseconds(200));  // what else the change would wake
  EXPECT_EQ(attempts.load() - kCalls, 4);
  EXPECT_TRUE(Eventually([&] { return poll.size() == kCalls - 3u; }));

  changes.Notify();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(attempts.load() - kCalls, 5);
  EXPECT_EQ(answered.load(), 3);
  EXPECT_EQ(expired.load(), 0);
}

// A call sent back by another's empty attempt (its needs may differ: another device
// kind) is still attempted `poll` after its last attempt, without a change.
TEST(LongPollTest, ACallSentBackByAnotherEmptyAttemptIsAttemptedAtItsPoll) {
  SignalNotifier changes;
  LongPollOptions options = Quick();
  options.poll = absl::Milliseconds(300);
  LongPoll poll(&changes, ChangeNotifier::Topic::kQueue, options);
  Outcome first, second;
  std::atomic<bool> never{false}, ready{false};
  ASSERT_TRUE(poll.Add(AnswerWhen(&first, &never), Expire(&first),
                       absl::Now() + absl::Seconds(20), nullptr)
                  .ok());
  ASSERT_TRUE(Eventually([&] { return first.attempts.load() == 1; }));
  ASSERT_TRUE(poll.Add(AnswerWhen(&second, &ready), Expire(&second),
                       absl::Now() + absl::Seconds(20), nullptr)
                  .ok());
  ASSERT_TRUE(Eventually([&] { return second.attempts.load() == 1; }));
  absl::SleepFor(absl::Milliseconds(20));

  ready = true;  // a job only the second call can take
  const absl::Time changed = absl::Now();
  changes.Notify();
  ASSERT_TRUE(second.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(second.answered.load(), 1);
  EXPECT_EQ(first.answered.load() + first.expired.load() + first.cancelled.load(), 0);
  // Whichever order they were attempted in, the second was answered no later than
  // its poll (300 ms after its last attempt, plus a tick), with margin for a loaded
  // machine.
  EXPECT_LT(absl::Now() - changed, absl::Seconds(2));
}

TEST(LongPollTest, ACallWithoutAnAnswerExpiresAtItsDeadlineOnce) {
  SignalNotifier changes;
  LongPoll poll(&changes, ChangeNotifier::Topic::kQueue, Quick());
  Outcome o;
  std::atomic<bool> never{false};
  const absl::Time start = absl::Now();
  ASSERT_TRUE(poll.Add(AnswerWhen(&o, &never), Expire(&o),
                       start + absl::Milliseconds(200), nullptr)
                  .ok());
  ASSERT_TRUE(o.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  // Not before the deadline; the 5 s bound is only a hang guard.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(o.expired.load(), 1);
  EXPECT_EQ(o.answered.load() + o.cancelled.load(), 0);
}

TEST(LongPollTest, AZeroWaitGetsOneAttempt) {
  SignalNotifier changes;
  LongPoll poll(&changes, ChangeNotifier::Topic::kQueue, Quick());
  Outcome o;
  std::atomic<bool> never{false};
  ASSERT_TRUE(poll.Add(AnswerWhen(&o, &never), Expire(&o), absl::Now(), nullptr).ok());
  ASSERT_TRUE(o.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(o.attempts.load(), 1);
  EXPECT_EQ(o.expired.load(), 1);
}

TEST(LongPollTest, ACancelledCallIsAnsweredAsCancelled) {
  SignalNotifier changes;
  LongPoll poll(&changes, ChangeNotifier::Topic::kQueue, Quick());
  Outcome o;
  std::atomic<bool> never{false};
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(poll.Add(AnswerWhen(&o, &never), Expire(&o),
                       absl::Now() + absl::Seconds(20), cancelled)
                  .ok());
  absl::SleepFor(absl::Milliseconds(50));
  cancelled->store(true);
  ASSERT_TRUE(o.done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_EQ(o.cancelled.load(), 1);
  EXPECT_EQ(o.answered.load() + o.expired.load(), 0);
}

TEST(LongPollTest, MoreThanTheLimitIsRefusedNamingIt) {
  SignalNotifier changes;
  LongPollOptions options = Quick();
  options.max_waiting = 3;
  Outcome o[4];
  std::atomic<bool> never{false};
  {
    LongPoll poll(&changes, ChangeNotifier::Topic::kQueue, options);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(poll.Add(AnswerWhen(&o[i], &never), Expire(&o[i]),
                           absl::Now() + absl::Seconds(20), nullptr)
                      .ok());
    }
    absl::Status refused = poll.Add(AnswerWhen(&o[3], &never), Expire(&o[3]),
                                    absl::Now() + absl::Seconds(20), nullptr);
    EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(refused.message(), HasSubstr("at most 3"));
    EXPECT_EQ(o[3].attempts.load(), 0);
  }
  // The LongPoll is gone: the three it held were answered (as cancelled) once each.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(o[i].cancelled.load(), 1) << i;
    EXPECT_EQ(o[i].answered.load() + o[i].expired.load(), 0) << i;
  }
  EXPECT_EQ(o[3].cancelled.load() + o[3].expired.load(), 0);
}

}  // namespace
}  // namespace rib::service
