// LogUploader against a WorkerApi server of its own (real gRPC on port 0) that keeps
// what AppendAttemptLog sends like the coordinator does (bytes before its end skipped):
// each Poll sends only what a rank's log file gained, with the lease's job, attempt,
// secret and the worker's token; a file past 1 MiB is skipped ahead to its last 1 MiB;
// a refused upload is retried at the next Poll from the coordinator's offset.
#include "worker/agent/log_uploader.h"

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_env.h"

namespace rib::agent {
namespace {

using ::testing::HasSubstr;

class LogSink final : public v1::WorkerApi::Service {
 public:
  LogSink() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~LogSink() override { server_->Shutdown(absl::ToChronoTime(absl::Now())); }

  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_),
                               grpc::InsecureChannelCredentials());
  }
  void RefuseNext(int n) {
    absl::MutexLock lock(&mu_);
    refuse_ = n;
  }
  // Rank → (first offset stored, bytes from there).
  std::pair<int64_t, std::string> Log(int rank) {
    absl::MutexLock lock(&mu_);
    return {start_[rank], logs_[rank]};
  }
  std::vector<v1::AppendAttemptLogRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  std::vector<std::string> tokens() {
    absl::MutexLock lock(&mu_);
    return tokens_;
  }

  grpc::Status AppendAttemptLog(grpc::ServerContext* ctx,
                                const v1::AppendAttemptLogRequest* req,
                                v1::AppendAttemptLogResponse* resp) override {
    absl::MutexLock lock(&mu_);
    auto auth = ctx->client_metadata().find("authorization");
    tokens_.push_back(auth == ctx->client_metadata().end()
                          ? ""
                          : std::string(auth->second.data(), auth->second.size()));
    requests_.push_back(*req);
    if (refuse_ > 0) {
      --refuse_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "database is down");
    }
    const int r = req->rank();
    if (!logs_.count(r)) start_[r] = req->offset();
    const int64_t end = start_[r] + static_cast<int64_t>(logs_[r].size());
    if (req->offset() > end) {  // a gap: start afresh, as the coordinator does
      start_[r] = req->offset();
      logs_[r] = req->data();
    } else {
      const int64_t skip = end - req->offset();
      if (skip < static_cast<int64_t>(req->data().size()))
        logs_[r] += req->data().substr(skip);
    }
    resp->set_next_offset(start_[r] + static_cast<int64_t>(logs_[r].size()));
    return grpc::Status::OK;
  }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  absl::Mutex mu_;
  int refuse_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, int64_t> start_ ABSL_GUARDED_BY(mu_);
  std::map<int, std::string> logs_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::AppendAttemptLogRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> tokens_ ABSL_GUARDED_BY(mu_);
};

void Append(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::app | std::ios::binary) << text;
}

TEST(LogUploaderTest, SendsWhatEachRankLogGainedWithTheLeaseAndToken) {
  LogSink sink;
  ::rib::testing::ScratchDir dir;
  const std::vector<std::string> paths = {dir.path() + "/rank0.stderr.log",
                                          dir.path() + "/rank1.stderr.log"};
  LogUploaderOptions options;
  options.token = "rib_worker_token";
  LogUploader up(sink.Channel(), AttemptLease{"job-1", 3, "secret-3"}, options);
  // No file yet: nothing to send, not an error.
  EXPECT_TRUE(up.Poll(paths).ok());
  EXPECT_TRUE(sink.requests().empty());
  Append(paths[0], "rank 0 starts\n");
  Append(paths[1], "rank 1 starts\n");
  ASSERT_TRUE(up.Poll(paths).ok());
  Append(paths[0], "step 1\n");
  ASSERT_TRUE(up.Poll(paths).ok());
  EXPECT_EQ(sink.Log(0).second, "rank 0 starts\nstep 1\n");
  EXPECT_EQ(sink.Log(1).second, "rank 1 starts\n");
  EXPECT_EQ(up.uploaded(0), 21);
  const auto requests = sink.requests();
  ASSERT_EQ(requests.size(), 3u);  // rank 1 had nothing new the second time
  EXPECT_EQ(requests[2].offset(), 14);
  EXPECT_EQ(requests[2].data(), "step 1\n");
  for (const auto& r : requests) {
    EXPECT_EQ(r.job_id(), "job-1");
    EXPECT_EQ(r.attempt(), 3);
    EXPECT_EQ(r.lease_secret(), "secret-3");
  }
  for (const std::string& t : sink.tokens()) EXPECT_EQ(t, "Bearer rib_worker_token");
}

TEST(LogUploaderTest, SkipsWhatTheCoordinatorWouldDropAndSendsInChunks) {
  LogSink sink;
  ::rib::testing::ScratchDir dir;
  const std::vector<std::string> paths = {dir.path() + "/rank0.stderr.log"};
  std::string big;
  for (int i = 0; i < (1 << 20) + 300000; ++i)
    big.push_back(static_cast<char>('a' + i % 26));
  Append(paths[0], big);
  LogUploader up(sink.Channel(), AttemptLease{"job-1", 1, "s"});
  ASSERT_TRUE(up.Poll(paths).ok());
  const auto [start, data] = sink.Log(0);
  EXPECT_EQ(start, static_cast<int64_t>(big.size()) - kKeptLogBytes);
  EXPECT_EQ(data, big.substr(big.size() - kKeptLogBytes));
  for (const auto& r : sink.requests()) {
    EXPECT_LE(static_cast<int64_t>(r.data().size()), kLogChunkBytes);
  }
  EXPECT_EQ(static_cast<int64_t>(sink.requests().size()), kKeptLogBytes / kLogChunkBytes);
}

TEST(LogUploaderTest, ARefusedUploadIsRetriedAtTheNextPoll) {
  LogSink sink;
  ::rib::testing::ScratchDir dir;
  const std::vector<std::string> paths = {dir.path() + "/rank0.stderr.log"};
  Append(paths[0], "before the outage\n");
  LogUploader up(sink.Channel(), AttemptLease{"job-1", 1, "s"});
  sink.RefuseNext(1);
  absl::Status s = up.Poll(paths);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("rank 0's log of job job-1: database is down"));
  EXPECT_EQ(up.uploaded(0), 0);
  Append(paths[0], "after\n");
  ASSERT_TRUE(up.Poll(paths).ok());
  EXPECT_EQ(sink.Log(0).second, "before the outage\nafter\n");
}

}  // namespace
}  // namespace rib::agent
