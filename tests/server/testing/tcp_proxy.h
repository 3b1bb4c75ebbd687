// A TCP forwarder for fault tests: 127.0.0.1:port() forwards to 127.0.0.1:target_port
// until Silence(), after which it forwards nothing and accepts nothing, closing
// nothing either: what a black-holed server (a dropped route, a frozen VM) looks like
// to a client that is already connected. The kernel still acknowledges what the client
// sends, so neither keepalives nor tcp_user_timeout notice; only a bound in the client
// ends its wait. Thread-safe.
#ifndef RIB_TESTS_SERVER_TESTING_TCP_PROXY_H_
#define RIB_TESTS_SERVER_TESTING_TCP_PROXY_H_

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace rib::testing {

class TcpProxy {
 public:
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  void Silence() { silent_ = true; }

 private:
  void AcceptLoop();
  void Pump(int from, int to);

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> silent_{false};
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> pumps_ ABSL_GUARDED_BY(mu_);
  std::thread accept_thread_;
};

// `uri` (postgresql://...@HOST:PORT/...) with its port replaced, and the port in it.
std::string WithPort(const std::string& uri, int port);
int PortOf(const std::string& uri);

}  // namespace rib::testing

#endif  // RIB_TESTS_SERVER_TESTING_TCP_PROXY_H_
