// rib-test-labels: postgres
// The coordinator at scale (issue 16), through a real gRPC server on port 0 and a real
// PostgreSQL: 1,000 AcquireJob long-polls wait at once with the process's thread count
// bounded (the callback API and service::LongPoll: no thread per waiting call) and are
// all answered, each job leased once; and the token cache keeps revocation immediate —
// a token revoked here is refused on the very next call, one revoked through another
// coordinator as soon as its NOTIFY arrives.
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rib/v1/coordinator.grpc.pb.h"
#include "rib/v1/worker.grpc.pb.h"
#include "server/coordinator.h"
#include "tests/server/testing/fresh_coordinator.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/server/testing/sweep_fixtures.h"
#include "tests/server/testing/test_coordinator.h"
#include "tests/server/testing/tokens.h"
#include "tests/testing/test_env.h"

namespace rib {
namespace {

using ::rib::testing::AuthContext;
using ::rib::testing::MakeToken;

auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new ::rib::testing::PgEnvironment("scale"));

// This process's thread count, from /proc/self/status.
int Threads() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (absl::StartsWith(line, "Threads:")) {
      int n = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(8)), &n)) return n;
    }
  }
  ADD_FAILURE() << "no Threads: line in /proc/self/status";
  return -1;
}

class ScaleTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(CoordinatorOptions()); }
  // A fresh coordinator (empty tables) with `options` and new test tokens.
  void Start(CoordinatorOptions options) {
    if (coordinator_ != nullptr) coordinator_->Shutdown(absl::ZeroDuration());
    options.poll = absl::Milliseconds(200);
    coordinator_ = ::rib::testing::StartFreshCoordinator(root_.path(), options);
    ASSERT_NE(coordinator_, nullptr);
    ::rib::testing::CoordinatorStubs stubs = ::rib::testing::ConnectTo(*coordinator_);
    client_ = std::move(stubs.client);
    worker_api_ = std::move(stubs.worker_api);
    tokens_ = ::rib::testing::MakeTestTokens(::rib::testing::PgTestUri());
  }
  void TearDown() override {
    if (coordinator_ != nullptr) coordinator_->Shutdown(absl::ZeroDuration());
  }

  grpc::Status WhoAmI(v1::Coordinator::Stub* stub, const std::string& token) {
    AuthContext ctx(token);
    v1::WhoAmIRequest req;
    v1::WhoAmIResponse resp;
    return stub->WhoAmI(&ctx, req, &resp);
  }

  v1::SubmitSweepResponse SubmitSmallSweep() {
    AuthContext ctx(tokens_.alice);
    v1::SubmitSweepRequest req;
    req.set_sweep_yaml(::rib::testing::kSmallSweepYaml);
    v1::SubmitSweepResponse resp;
    grpc::Status s = client_->SubmitSweep(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  std::string TokenId(const std::string& user) {
    AuthContext ctx(tokens_.root);
    v1::ListTokensRequest req;
    v1::ListTokensResponse resp;
    EXPECT_TRUE(client_->ListTokens(&ctx, req, &resp).ok());
    for (const auto& t : resp.tokens()) {
      if (t.user() == user) return t.id();
    }
    ADD_FAILURE() << "no token of " << user;
    return "";
  }

  grpc::Status Revoke(v1::Coordinator::Stub* stub, const std::string& token_id) {
    AuthContext ctx(tokens_.root);
    v1::RevokeTokenRequest req;
    req.set_token_id(token_id);
    v1::TokenInfo info;
    return stub->RevokeToken(&ctx, req, &info);
  }

  ::rib::testing::ScratchDir root_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<v1::Coordinator::Stub> client_;
  std::unique_ptr<v1::WorkerApi::Stub> worker_api_;
  ::rib::testing::TestTokens tokens_;
};

TEST_F(ScaleTest, AThousandLongPollsHoldFewThreadsAndAreAllAnswered) {
  const std::string worker_id =
      ::rib::testing::RegisterTestWorker(worker_api_.get(), tokens_.worker).worker_id();
  ASSERT_FALSE(worker_id.empty());
  constexpr int kCalls = 1000;
  struct Call {
    explicit Call(const std::string& token) : ctx(token) {}
    AuthContext ctx;
    v1::AcquireJobRequest req;
    v1::AcquireJobResponse resp;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Call>> calls;
  absl::Mutex mu;
  int answered = 0;
  for (int i = 0; i < kCalls; ++i) {
    auto call = std::make_unique<Call>(tokens_.worker);
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    call->req.set_worker_id(worker_id);
    call->req.set_free_devices(1);
    call->req.set_wait_ms(6000);
    Call* c = call.get();
    calls.push_back(std::move(call));
    // The client's callback API: no thread per call on this side either.
    worker_api_->async()->AcquireJob(&c->ctx, &c->req, &c->resp,
                                     [c, &mu, &answered](grpc::Status s) {
                                       c->status = std::move(s);
                                       absl::MutexLock l(&mu);
                                       ++answered;
                                     });
  }
  absl::SleepFor(absl::Seconds(2));
  const int threads = Threads();
  {
    absl::MutexLock l(&mu);
    // No job is queued yet and each call waits 6 s: all of them are waiting now.
    EXPECT_EQ(answered, 0);
  }
  // Server and client are in this process: a thread per waiting call would be >1,000.
  EXPECT_LT(threads, 100) << "threads with " << kCalls << " long-polls waiting";

  // A sweep queued now wakes the waiting calls: its jobs go to them, each once.
  const v1::SubmitSweepResponse sresp = SubmitSmallSweep();
  ASSERT_FALSE(sresp.sweep_id().empty());
  {
    absl::MutexLock l(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(+[](int* n) { return *n == kCalls; }, &answered),
        absl::Seconds(40)))
        << answered << " of " << kCalls << " answered";
  }
  std::set<std::string> leased;
  int with_job = 0;
  for (const auto& c : calls) {
    EXPECT_TRUE(c->status.ok()) << c->status.error_message();
    if (c->resp.has_job()) {
      ++with_job;
      leased.insert(c->resp.job_id());
    }
  }
  EXPECT_GE(with_job, 1);  // the sweep's first job(s) became QUEUED at submit
  EXPECT_LE(with_job, sresp.jobs_total());
  EXPECT_EQ(leased.size(), static_cast<size_t>(with_job)) << "a job leased twice";
}

TEST_F(ScaleTest, ACachedTokenRevokedHereIsRefusedOnTheNextCall) {
  const std::string uri = ::rib::testing::PgTestUri();
  const std::string dave = MakeToken(uri, "dave");
  ASSERT_TRUE(WhoAmI(client_.get(), dave).ok());
  ASSERT_TRUE(WhoAmI(client_.get(), dave).ok());  // now from the cache
  ASSERT_TRUE(Revoke(client_.get(), TokenId("dave")).ok());
  EXPECT_EQ(WhoAmI(client_.get(), dave).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // The same on the worker API's callback path (AcquireJob).
  const std::string erin = MakeToken(uri, "erin-worker", domain::Role::kWorker);
  const std::string worker_id =
      ::rib::testing::RegisterTestWorker(worker_api_.get(), erin).worker_id();
  auto acquire = [&] {
    AuthContext ctx(erin);
    v1::AcquireJobRequest req;
    req.set_worker_id(worker_id);
    req.set_free_devices(1);
    v1::AcquireJobResponse resp;
    return worker_api_->AcquireJob(&ctx, req, &resp);
  };
  ASSERT_TRUE(acquire().ok());
  ASSERT_TRUE(acquire().ok());
  ASSERT_TRUE(Revoke(client_.get(), TokenId("erin-worker")).ok());
  grpc::Status refused = acquire();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(refused.error_message(), "the token is unknown or has been revoked");
}

TEST_F(ScaleTest, ATokenRevokedThroughAnotherCoordinatorIsRefusedHere) {
  CoordinatorOptions options;
  options.database_uri = ::rib::testing::PgTestUri();
  options.artifact_root = root_.path();
  auto other = Coordinator::Create(options);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE((*other)->Start().ok());
  auto other_client = v1::Coordinator::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*other)->port()),
                          grpc::InsecureChannelCredentials()));
  const std::string dave = MakeToken(::rib::testing::PgTestUri(), "dave");
  ASSERT_TRUE(WhoAmI(client_.get(), dave).ok());
  ASSERT_TRUE(WhoAmI(client_.get(), dave).ok());  // cached here
  ASSERT_TRUE(Revoke(other_client.get(), TokenId("dave")).ok());
  // Here the revocation arrives as a NOTIFY, a few milliseconds after the commit; 5 s
  // is only a bound for a loaded machine.
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  grpc::Status s = WhoAmI(client_.get(), dave);
  while (s.ok() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
    s = WhoAmI(client_.get(), dave);
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  (*other)->Shutdown(absl::ZeroDuration());
}

TEST_F(ScaleTest, WatchesBeyondTheLimitAreRefusedNamingItAndAClosedOneFreesItsPlace) {
  CoordinatorOptions options;
  options.max_watches = 2;
  Start(options);
  const std::string sweep_id = SubmitSmallSweep().sweep_id();
  ASSERT_FALSE(sweep_id.empty());
  struct Watch {
    explicit Watch(const std::string& token) : ctx(token) {}
    AuthContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::SweepEvent>> reader;
  };
  auto open = [&](Watch* w) {
    v1::WatchSweepRequest req;
    req.set_sweep_id(sweep_id);
    req.set_include_snapshot(true);
    w->reader = client_->WatchSweep(&w->ctx, req);
    v1::SweepEvent first;
    return w->reader->Read(&first);  // the snapshot's first event: the watch runs
  };
  Watch a(tokens_.alice), b(tokens_.alice), c(tokens_.alice);
  ASSERT_TRUE(open(&a));
  ASSERT_TRUE(open(&b));
  EXPECT_FALSE(open(&c));
  const grpc::Status refused = c.reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), ::testing::HasSubstr("at most 2 WatchSweep"));
  // Closing one frees its place once the server notices (its next poll, 200 ms).
  a.ctx.TryCancel();
  a.reader->Finish();
  bool reopened = false;
  for (int i = 0; i < 50 && !reopened; ++i) {
    auto d = std::make_unique<Watch>(tokens_.alice);
    reopened = open(d.get());
    d->ctx.TryCancel();
    d->reader->Finish();
    if (!reopened) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(reopened);
  b.ctx.TryCancel();
  b.reader->Finish();
}

}  // namespace
}  // namespace rib
