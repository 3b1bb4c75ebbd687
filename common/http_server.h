// rib's one HTTP server: the coordinator's dashboard and metrics (--http-listen,
// --metrics-listen) and the worker's metrics. HTTP/1.0, one request per connection
// (Connection: close), GET-style requests without a body.
//
// Why not prometheus-cpp's Exposer (civetweb): its threads have a fixed stack (100 KB,
// set when Debian built it) that is smaller than the static TLS of a process that loads
// LibTorch, OpenBLAS and glog, so pthread_create fails with EINVAL in rib-worker. This
// server's threads are std::threads with a normal stack.
//
// Each accepted connection is served on its own thread, at most
// HttpServerOptions::max_connections at once (a browser opens several, and one slow
// request must not stall the others); a connection beyond that is answered 503 at once.
//
// Thread-safety: the handler is called from several threads at once and must be
// thread-safe. Start and the destructor are not to be called concurrently.
#ifndef RIB_COMMON_HTTP_SERVER_H_
#define RIB_COMMON_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace rib {

struct HttpRequest {
  std::string method;  // "GET"
  std::string path;    // "/api/sweeps/abc", without the query; percent-decoded
  std::map<std::string, std::string> query;    // "?state=failed" → {"state": "failed"}
  std::map<std::string, std::string> headers;  // names lower-cased
  // The value of header `name` (lower case), "" when absent.
  std::string Header(const std::string& name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// A plain-text response (404, 405, ...) with `body`.
HttpResponse TextResponse(int status, std::string body);
// "OK", "Not Found", ... for a status code ("" for one it does not know).
const char* HttpReason(int status);

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  // Connections served at once; one more is answered 503. Default 32: a few browsers
  // polling plus scrapes.
  int max_connections = 32;
  // Request line and headers larger than this are answered 431. Default 16 KiB: a
  // bearer token and a browser's headers fit many times over.
  size_t max_request_bytes = 16 * 1024;
  // A request whose line and headers have not all arrived this long after the
  // connection was accepted is dropped, as is a client that reads nothing for this
  // long. Default 5 s.
  int io_timeout_seconds = 5;
};

class HttpServer {
 public:
  // Listens on "HOST:PORT" (an IPv4 address, "localhost" or "0.0.0.0"; port 0 picks a
  // free one) and serves `handler`. INVALID_ARGUMENT for a malformed address,
  // UNAVAILABLE when it cannot bind. `what` names the server in errors ("metrics").
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& address, HttpHandler handler, HttpServerOptions options = {},
      const std::string& what = "http");
  ~HttpServer();  // stops accepting, waits for the connections being served
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

 private:
  HttpServer(int fd, int port, HttpHandler handler, HttpServerOptions options);
  void Accept();
  void Serve(int client);

  const int fd_;
  const int port_;
  const HttpHandler handler_;
  const HttpServerOptions options_;
  std::atomic<bool> stop_{false};
  // One per connection being served; only the accept thread touches the list (it
  // joins finished ones before it counts them), the destructor after joining it.
  struct Connection {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  std::list<Connection> connections_;
  std::thread accept_thread_;
};

}  // namespace rib

#endif  // RIB_COMMON_HTTP_SERVER_H_
