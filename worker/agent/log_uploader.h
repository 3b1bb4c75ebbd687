// Uploads the rank logs of one attempt to the coordinator (WorkerApi.AppendAttemptLog):
// the coordinator never dials workers, so `rib logs` reads what the worker pushed.
// Each Poll() reads what each rank's log file gained since the last upload and sends
// it in chunks of at most kLogChunkBytes; a file that grew past what the coordinator
// keeps (1 MiB) is skipped ahead to its last 1 MiB. A failed upload is logged and
// retried at the next Poll() from the coordinator's offset: logs are for people, and
// never hold up or fail a job.
//
// Thread-safety: Poll() is called by one thread at a time (the executor's uploader).
#ifndef RIB_WORKER_AGENT_LOG_UPLOADER_H_
#define RIB_WORKER_AGENT_LOG_UPLOADER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "rib/v1/worker.grpc.pb.h"
#include "worker/agent/event_stream.h"

namespace rib::agent {

// The coordinator's per-call limit (service::kMaxLogAppendBytes).
inline constexpr int64_t kLogChunkBytes = 64 << 10;
// What the coordinator keeps per rank (pg::kMaxAttemptLogBytes).
inline constexpr int64_t kKeptLogBytes = 1 << 20;

struct LogUploaderOptions {
  // The worker's bearer token. Default "" (the coordinator answers UNAUTHENTICATED).
  std::string token;
  // Deadline of one AppendAttemptLog call. Default 10 s.
  absl::Duration call_timeout = absl::Seconds(10);
};

class LogUploader {
 public:
  LogUploader(std::shared_ptr<grpc::Channel> channel, AttemptLease lease,
              LogUploaderOptions options = {});

  // Sends what `paths[rank]` (rank r's log file) gained. Returns the first error of
  // this pass (the rest of the pass is skipped; the next pass starts again), OK when
  // everything read was stored.
  absl::Status Poll(const std::vector<std::string>& paths);

  // Bytes of rank `rank`'s log the coordinator has confirmed.
  int64_t uploaded(int rank) const;

 private:
  absl::Status UploadFile(int rank, const std::string& path);

  const std::unique_ptr<v1::WorkerApi::Stub> stub_;
  const AttemptLease lease_;
  const LogUploaderOptions options_;
  std::map<int, int64_t> offsets_;  // rank → the coordinator's end offset
};

}  // namespace rib::agent

#endif  // RIB_WORKER_AGENT_LOG_UPLOADER_H_
