// The report stream: every event carries the attempt and its lease secret, every
// stream the worker's bearer token; a stale attempt is rejected with
// FAILED_PRECONDITION.
#include "worker/agent/event_stream.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/worker/agent/fake_coordinator.h"

namespace rib::agent {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;

using ::rib::agent::testing::FakeCoordinator;
using ::testing::ElementsAre;
using ::testing::Pair;

std::shared_ptr<grpc::Channel> Connect(const FakeCoordinator& c) {
  return grpc::CreateChannel(c.address(), grpc::InsecureChannelCredentials());
}

// Leases job `id` (attempt 1) through the fake's AcquireJob.
void Lease(FakeCoordinator& c, const std::string& id) {
  c.AddJob(id);
  auto stub = v1::WorkerApi::NewStub(Connect(c));
  grpc::ClientContext rctx;
  v1::RegisterRequest rreq;
  v1::RegisterResponse rresp;
  ASSERT_TRUE(stub->Register(&rctx, rreq, &rresp).ok());
  grpc::ClientContext actx;
  v1::AcquireJobRequest areq;
  areq.set_worker_id(rresp.worker_id());
  areq.set_free_devices(1);
  areq.set_wait_ms(1000);
  v1::AcquireJobResponse aresp;
  ASSERT_TRUE(stub->AcquireJob(&actx, areq, &aresp).ok());
  ASSERT_EQ(aresp.job_id(), id);
}

TEST(EventStreamTest, SendsEventsWithJobAndAttempt) {
  FakeCoordinator coordinator;
  Lease(coordinator, "j1");
  EventStreamOptions options;
  options.token = "rib_worker_token";
  EventStream stream(Connect(coordinator), AttemptLease{"j1", 1, "secret-j1-1"}, options);
  v1::JobEvent started;
  started.set_started(true);
  ASSERT_THAT(stream.Send(started), IsOk());
  v1::JobEvent result;
  result.mutable_result()->set_dataset("fmnist-val");
  result.mutable_result()->set_correct(7);
  result.mutable_result()->set_total(10);
  ASSERT_THAT(stream.Send(result), IsOk());
  ASSERT_THAT(stream.Close(), IsOk());
  std::vector<v1::JobEvent> events = coordinator.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].job_id(), "j1");
  EXPECT_EQ(events[0].attempt(), 1);
  EXPECT_TRUE(events[0].started());
  EXPECT_EQ(events[1].result().correct(), 7);
  EXPECT_EQ(events[1].result().total(), 10);
  for (const v1::JobEvent& e : events) EXPECT_EQ(e.lease_secret(), "secret-j1-1");
  // Numbered in order, so a re-sent event is written once.
  EXPECT_EQ(events[0].seq(), 1);
  EXPECT_EQ(events[1].seq(), 2);
  // Register and AcquireJob of Lease() went without a token; the stream had it.
  EXPECT_THAT(coordinator.calls(),
              ElementsAre(Pair("Register", ""), Pair("AcquireJob", ""),
                          Pair("ReportResults", "Bearer rib_worker_token")));
}

TEST(EventStreamTest, ReportFailedCarriesTheSecretAndTheToken) {
  FakeCoordinator coordinator;
  Lease(coordinator, "j1");
  ASSERT_THAT(EventStream::ReportFailed(Connect(coordinator),
                                        AttemptLease{"j1", 1, "secret-j1-1"}, "tok",
                                        absl::UnavailableError("rank 0 died"),
                                        /*released=*/false),
              IsOk());
  std::vector<v1::JobEvent> events = coordinator.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].lease_secret(), "secret-j1-1");
  // After the attempt's own numbered stream: unsequenced, so it is never taken for a
  // re-send (it would be ignored, and the lease never released).
  EXPECT_EQ(events[0].seq(), 0);
  EXPECT_EQ(events[0].finished().error(), "rank 0 died");
  EXPECT_EQ(coordinator.calls().back(),
            std::make_pair(std::string("ReportResults"), std::string("Bearer tok")));
}

TEST(EventStreamTest, RefusedTokenIsFatal) {
  FakeCoordinator coordinator;
  Lease(coordinator, "j1");
  coordinator.SetRefuseAll(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no token"));
  EventStream stream(Connect(coordinator), AttemptLease{"j1", 1, "secret-j1-1"});
  v1::JobEvent started;
  started.set_started(true);
  stream.Send(started).IgnoreError();  // may be accepted locally before the answer
  EXPECT_THAT(stream.Close(), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(stream.Send(started), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_TRUE(coordinator.events().empty());
}

TEST(EventStreamTest, StaleAttemptIsRejectedAndWritesNothing) {
  FakeCoordinator coordinator;
  Lease(coordinator, "j1");
  v1::JobFinished done;
  done.set_ok(true);
  done.set_weights("weights/x");
  absl::Status s = EventStream::ReportFinished(
      Connect(coordinator), AttemptLease{"j1", /*attempt=*/7, "secret-j1-7"}, "", done);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(coordinator.rejected_reports(), 1);
  EXPECT_TRUE(coordinator.events().empty());
  // Every later call on a fenced-out stream keeps failing and sends nothing.
  EventStream stream(Connect(coordinator), AttemptLease{"j1", 7, "secret-j1-7"});
  v1::JobEvent progress;
  progress.mutable_progress()->set_step(1);
  stream.Send(progress).IgnoreError();
  EXPECT_THAT(stream.Close(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(stream.Send(progress), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(coordinator.events().empty());
}

}  // namespace
}  // namespace rib::agent
