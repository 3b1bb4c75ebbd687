#include "worker/protocol/rank_link.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace rib::protocol {

void UniqueFd::Reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

absl::StatusOr<RankLinkPair> CreateRankLink() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot create the rank link (socketpair): ", std::strerror(errno)));
  }
  RankLinkPair pair;
  pair.agent_end = UniqueFd(fds[0]);
  pair.rank_end = UniqueFd(fds[1]);
  return pair;
}

absl::Status RankLinkWriter::Send(const v1::JobEvent& event) {
  std::string bytes;
  event.SerializeToString(&bytes);
  if (bytes.size() > static_cast<size_t>(kMaxLinkMessageBytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "event of ", bytes.size(), " bytes is over the rank link's limit of ",
        kMaxLinkMessageBytes));
  }
  if (!fd_.valid()) return absl::UnavailableError("no rank link");
  while (true) {
    // MSG_NOSIGNAL: a gone agent is an error here, not a SIGPIPE.
    const ssize_t n = send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(bytes.size())) return absl::OkStatus();
    if (n < 0 && errno == EINTR) continue;
    const int err = errno;
    if (n < 0 && (err == EPIPE || err == ECONNRESET || err == ENOTCONN)) {
      return absl::UnavailableError("the agent closed the rank link (it is gone)");
    }
    return absl::InternalError(absl::StrCat("rank link send: ",
                                            n < 0 ? std::strerror(err) : "short write"));
  }
}

absl::StatusOr<RankLinkReader::Read> RankLinkReader::Next(v1::JobEvent* event,
                                                          absl::Duration timeout) {
  pollfd p = {fd_.get(), POLLIN, 0};
  const int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
  int ready;
  while ((ready = poll(&p, 1, ms)) < 0 && errno == EINTR) {
  }
  if (ready < 0) {
    return absl::InternalError(absl::StrCat("rank link poll: ", std::strerror(errno)));
  }
  if (ready == 0) return Read::kTimeout;
  // One byte more than the limit tells a too-long message (MSG_TRUNC reports its size).
  std::string buf(kMaxLinkMessageBytes + 1, '\0');
  ssize_t n;
  while ((n = recv(fd_.get(), buf.data(), buf.size(), MSG_TRUNC)) < 0 && errno == EINTR) {
  }
  if (n < 0) {
    if (errno == ECONNRESET) return Read::kEnd;
    return absl::InternalError(absl::StrCat("rank link recv: ", std::strerror(errno)));
  }
  if (n == 0) return Read::kEnd;
  if (n > kMaxLinkMessageBytes) {
    return absl::DataLossError(absl::StrCat("rank 0 sent a message of ", n,
                                            " bytes, over the rank link's limit of ",
                                            kMaxLinkMessageBytes));
  }
  if (!event->ParseFromArray(buf.data(), static_cast<int>(n))) {
    return absl::DataLossError(
        absl::StrCat("rank 0 sent a ", n, "-byte message that is not a JobEvent"));
  }
  return Read::kEvent;
}

}  // namespace rib::protocol
