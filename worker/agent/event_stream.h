// One attempt's ReportResults client stream: every event sent carries the job id, the
// attempt number (the coordinator's fencing token) and the lease's secret (the proof
// that this worker holds the lease), and every stream the worker's bearer token.
#ifndef RIB_WORKER_AGENT_EVENT_STREAM_H_
#define RIB_WORKER_AGENT_EVENT_STREAM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "rib/v1/worker.grpc.pb.h"

namespace rib::agent {

// Maps a gRPC status to absl (same codes, same message).
absl::Status FromGrpcStatus(const grpc::Status& status);

// The attempt a stream reports for.
struct AttemptLease {
  std::string job_id;
  int attempt = 0;
  // AcquireJobResponse.lease_secret of this attempt: stamped on every event, never
  // given to the ranks, never logged.
  std::string secret;
};

struct EventStreamOptions {
  // The worker's bearer token, sent on every stream. Default "" (none: the coordinator
  // answers UNAUTHENTICATED).
  std::string token;
  // How long Send() keeps reopening a broken stream (coordinator restarting) before it
  // gives up with UNAVAILABLE. Default 60 s: longer than a coordinator restart, shorter
  // than a lease.
  absl::Duration reconnect_window = absl::Seconds(60);
  // Deadline of the whole stream. Default 7 days: a stream lives as long as its job.
  absl::Duration stream_deadline = absl::Hours(24 * 7);
  // Number the events 1, 2, ... (JobEvent.seq) so that re-sends are written once.
  // Default true. ReportFinished's one-event streams are unsequenced (seq 0): they come
  // after the attempt's own stream, whose numbers they cannot know.
  bool sequenced = true;
};

// Thread-safe (one mutex serialises Send and Close).
//
// Errors: FAILED_PRECONDITION when the coordinator rejected the attempt (stale: another
// attempt owns the job now), NOT_FOUND (unknown job), PERMISSION_DENIED (a wrong lease
// secret, another worker's job) or UNAUTHENTICATED (the token); after such an error
// every call returns it again and nothing more is sent. UNAVAILABLE when the coordinator
// stayed unreachable for reconnect_window.
class EventStream {
 public:
  EventStream(std::shared_ptr<grpc::Channel> channel, AttemptLease lease,
              EventStreamOptions options = {});
  ~EventStream();  // Close()s if still open
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // Fills job_id, attempt, lease_secret and the next seq (1, 2, ...) and writes the
  // event. On a broken stream it reopens one and re-sends the events written on the
  // broken stream with their seq, so the coordinator writes each event once.
  absl::Status Send(v1::JobEvent event);
  // Half-closes and waits for the coordinator's answer; returns its status.
  absl::Status Close();

  // Convenience: one stream carrying one `finished` event, closed at once.
  // `token`: the worker's bearer token.
  static absl::Status ReportFinished(std::shared_ptr<grpc::Channel> channel,
                                     const AttemptLease& lease, const std::string& token,
                                     const v1::JobFinished& finished);
  // A `finished` event without a result: `why`'s code and message, and `released`
  // (the lease is given back, not failed). `retryable` is still set, as released or
  // UNAVAILABLE, for coordinators that predate `code`.
  static absl::Status ReportFailed(std::shared_ptr<grpc::Channel> channel,
                                   const AttemptLease& lease, const std::string& token,
                                   const absl::Status& why, bool released);

 private:
  absl::Status OpenLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finishes the current stream and returns its status.
  absl::Status FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WriteLocked(const v1::JobEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::unique_ptr<v1::WorkerApi::Stub> stub_;
  const AttemptLease lease_;
  const EventStreamOptions options_;

  absl::Mutex mu_;
  std::unique_ptr<grpc::ClientContext> context_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::ClientWriter<v1::JobEvent>> writer_ ABSL_GUARDED_BY(mu_);
  v1::ReportResultsResponse response_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::JobEvent> sent_on_stream_ ABSL_GUARDED_BY(mu_);
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;  // the last seq given to an event
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace rib::agent

#endif  // RIB_WORKER_AGENT_EVENT_STREAM_H_
