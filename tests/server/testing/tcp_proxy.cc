#include "tests/server/testing/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace rib::testing {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// Whether `fd` has something to read within 100 ms.
bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 100) > 0;
}

// The ":PORT/" of a URI: where it starts and ends.
std::pair<size_t, size_t> PortSpan(const std::string& uri) {
  const size_t slash = uri.find('/', uri.find("://") + 3);
  const size_t colon = uri.rfind(':', slash);
  return {colon + 1, slash};
}

}  // namespace

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = Loopback(0);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 64) != 0) {
    std::abort();
  }
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  accept_thread_.join();
  absl::MutexLock l(&mu_);
  for (std::thread& t : pumps_) t.join();
  for (int fd : fds_) close(fd);
  close(listen_fd_);
}

void TcpProxy::AcceptLoop() {
  while (!stop_) {
    // Silent: connections stay in the kernel's backlog, handshaken but never answered.
    if (silent_ || !Readable(listen_fd_)) {
      if (silent_) absl::SleepFor(absl::Milliseconds(50));
      continue;
    }
    const int client = accept(listen_fd_, nullptr, nullptr);
    if (client < 0) continue;
    const int server = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = Loopback(target_port_);
    if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(client);
      close(server);
      continue;
    }
    absl::MutexLock l(&mu_);
    fds_.push_back(client);
    fds_.push_back(server);
    pumps_.emplace_back([this, client, server] { Pump(client, server); });
    pumps_.emplace_back([this, client, server] { Pump(server, client); });
  }
}

void TcpProxy::Pump(int from, int to) {
  char buffer[16384];
  while (!stop_) {
    if (silent_) {
      absl::SleepFor(absl::Milliseconds(50));
      continue;
    }
    if (!Readable(from)) continue;
    const ssize_t n = read(from, buffer, sizeof(buffer));
    if (n <= 0) {
      shutdown(to, SHUT_WR);
      return;
    }
    for (ssize_t sent = 0; sent < n;) {
      const ssize_t w = write(to, buffer + sent, n - sent);
      if (w <= 0) return;
      sent += w;
    }
  }
}

std::string WithPort(const std::string& uri, int port) {
  auto [begin, end] = PortSpan(uri);
  return absl::StrCat(uri.substr(0, begin), port, uri.substr(end));
}

int PortOf(const std::string& uri) {
  auto [begin, end] = PortSpan(uri);
  int port = 0;
  return absl::SimpleAtoi(uri.substr(begin, end - begin), &port) ? port : 0;
}

}  // namespace rib::testing
