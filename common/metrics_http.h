// A minimal HTTP endpoint for Prometheus scrapes: GET /metrics answers with the text
// exposition format of the registered collectables; anything else gets 404.
//
// Why not prometheus-cpp's Exposer: it runs on civetweb, whose threads have a fixed
// stack (100 KB, set when Debian built it) that is smaller than the static TLS of a
// process that loads LibTorch, OpenBLAS and glog, so pthread_create fails with EINVAL
// and the Exposer cannot start in rib-worker. This server's one thread has a normal
// stack. It serves one connection at a time (a scrape is small and rare).
#ifndef RIB_COMMON_METRICS_HTTP_H_
#define RIB_COMMON_METRICS_HTTP_H_

#include <prometheus/collectable.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace rib {

class MetricsHttpServer {
 public:
  // Listens on "HOST:PORT" (an IPv4 address, "localhost" or "0.0.0.0"; port 0 picks a
  // free one). INVALID_ARGUMENT for a malformed address, UNAVAILABLE when it cannot bind.
  // The collectables must outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address,
      std::vector<std::shared_ptr<prometheus::Collectable>> collectables);
  ~MetricsHttpServer();  // stops serving and joins the thread
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

 private:
  MetricsHttpServer(int fd, int port,
                    std::vector<std::shared_ptr<prometheus::Collectable>> collectables);
  void Serve();
  void Answer(int client) const;

  const int fd_;
  const int port_;
  const std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace rib

#endif  // RIB_COMMON_METRICS_HTTP_H_
