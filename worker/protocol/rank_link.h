// The rank link: how rank 0 of an attempt tells its agent what happens, so that the
// agent is the only process that talks to the coordinator (DESIGN §8).
//
// The agent creates a connected pair of unix SOCK_SEQPACKET sockets per attempt
// (CreateRankLink) and gives one end to rank 0 as descriptor kRankLinkFd, named by
// RIB_AGENT_FD (rank_env.h). Rank 0 writes one serialized rib.v1.JobEvent per message,
// in order: started, progress, each result as it is computed, checkpoints, finished.
// Events carry no job id or attempt (the agent stamps its lease's) and paths are
// absolute (the agent makes them relative to the artifact root). The link's end (rank
// 0 exited or closed it) ends the attempt's events. Nothing flows back: the agent stops
// a rank with signals (SIGTERM = checkpoint and stop, SIGKILL = stop now).
//
// Thread-safety: a RankLinkWriter or RankLinkReader is used by one thread at a time.
#ifndef RIB_WORKER_PROTOCOL_RANK_LINK_H_
#define RIB_WORKER_PROTOCOL_RANK_LINK_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rib/v1/worker.pb.h"

namespace rib::protocol {

// Largest message on the link. Events are small (a result row is under 200 bytes); a
// longer one is an error, not a truncation.
inline constexpr int kMaxLinkMessageBytes = 64 << 10;

// An owned file descriptor (closed by the destructor). Movable.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset();

 private:
  int fd_ = -1;
};

struct RankLinkPair {
  UniqueFd agent_end;  // read by the agent (RankLinkReader)
  UniqueFd rank_end;   // handed to rank 0; the agent closes its copy once rank 0 runs
};

// Both ends are close-on-exec (the launcher gives the rank end to rank 0 explicitly).
// INTERNAL naming the errno on failure.
absl::StatusOr<RankLinkPair> CreateRankLink();

// Rank side.
class RankLinkWriter {
 public:
  explicit RankLinkWriter(UniqueFd fd) : fd_(std::move(fd)) {}
  // Sends one event; blocks while the agent is behind (the socket buffer is full).
  // UNAVAILABLE when the agent's end is gone (the agent died: the rank should stop),
  // INVALID_ARGUMENT for an event over kMaxLinkMessageBytes.
  absl::Status Send(const v1::JobEvent& event);

 private:
  UniqueFd fd_;
};

// Agent side.
class RankLinkReader {
 public:
  enum class Read { kEvent, kEnd, kTimeout };

  explicit RankLinkReader(UniqueFd fd) : fd_(std::move(fd)) {}
  // Waits up to `timeout` for the next message. kEvent: *event holds it. kEnd: rank 0's
  // end is closed and every event has been read. kTimeout: nothing yet.
  // DATA_LOSS for a message that is not a JobEvent (or is too long); INTERNAL for a
  // socket error.
  absl::StatusOr<Read> Next(v1::JobEvent* event, absl::Duration timeout);

 private:
  UniqueFd fd_;
};

}  // namespace rib::protocol

#endif  // RIB_WORKER_PROTOCOL_RANK_LINK_H_
