#include "common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace rib {
namespace {

constexpr int kPollMillis = 100;  // how soon the accept thread notices the destructor

void WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

std::string Serialize(const HttpResponse& r, bool head) {
  std::string out =
      absl::StrCat("HTTP/1.0 ", r.status, " ", HttpReason(r.status),
                   "\r\nContent-Type: ", r.content_type,
                   "\r\nContent-Length: ", r.body.size(), "\r\nConnection: close\r\n");
  for (const auto& [name, value] : r.headers)
    absl::StrAppend(&out, name, ": ", value, "\r\n");
  out += "\r\n";
  if (!head) out += r.body;
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding ('+' is a space only in a query). false for a bad escape or a NUL.
bool Decode(absl::string_view in, bool query, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = HexDigit(in[i + 1]), lo = HexDigit(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && query) {
      c = ' ';
    }
    if (c == '\0') return false;
    out->push_back(c);
  }
  return true;
}

// Parses the request line and headers; false for a malformed request.
bool Parse(const std::string& raw, HttpRequest* req) {
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(raw).substr(0, end), "\r\n");
  std::vector<absl::string_view> parts = absl::StrSplit(lines[0], ' ');
  if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.") || parts[0].empty() ||
      !absl::StartsWith(parts[1], "/")) {
    return false;
  }
  req->method = std::string(parts[0]);
  absl::string_view target = parts[1];
  const size_t q = target.find('?');
  if (!Decode(target.substr(0, q), false, &req->path)) return false;
  if (q != absl::string_view::npos) {
    for (absl::string_view pair :
         absl::StrSplit(target.substr(q + 1), '&', absl::SkipEmpty())) {
      const size_t eq = pair.find('=');
      std::string key, value;
      if (!Decode(pair.substr(0, eq), true, &key)) return false;
      if (eq != absl::string_view::npos && !Decode(pair.substr(eq + 1), true, &value))
        return false;
      req->query[key] = value;
    }
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos || colon == 0) return false;
    req->headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  return true;
}

}  // namespace

std::string HttpRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

HttpResponse TextResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

const char* HttpReason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& address,
                                                              HttpHandler handler,
                                                              HttpServerOptions options,
                                                              const std::string& what) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " address '", address, "' is not HOST:PORT"));
  }
  std::string host = address.substr(0, colon);
  if (host == "localhost") host = "127.0.0.1";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(what, " address '", address, "': '",
                                                   host, "' is not an IPv4 address"));
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 64) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot serve ", what, " on ", address, ": ", std::strerror(err)));
  }
  return std::unique_ptr<HttpServer>(
      new HttpServer(fd, ntohs(addr.sin_port), std::move(handler), options));
}

HttpServer::HttpServer(int fd, int port, HttpHandler handler, HttpServerOptions options)
    : fd_(fd), port_(port), handler_(std::move(handler)), options_(options) {
  accept_thread_ = std::thread([this] { Accept(); });
}

HttpServer::~HttpServer() {
  stop_.store(true);
  accept_thread_.join();
  for (Connection& c : connections_) c.thread.join();
  close(fd_);
}

void HttpServer::Accept() {
  while (!stop_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, kPollMillis) <= 0) continue;
    const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    // A client that sends or reads nothing must not hold its thread for long.
    timeval timeout{options_.io_timeout_seconds, 0};
    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (it->done.load()) {
        it->thread.join();
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
    if (static_cast<int>(connections_.size()) >= options_.max_connections) {
      WriteAll(client,
               Serialize(TextResponse(503, "too many connections; retry\n"), false));
      close(client);
      continue;
    }
    Connection& c = connections_.emplace_back();
    c.thread = std::thread([this, client, &c] {
      Serve(client);
      close(client);
      c.done.store(true);
    });
  }
}

void HttpServer::Serve(int client) {
  std::string raw;
  char buf[2048];
  // The whole request must arrive in time, not each piece of it: a client trickling a
  // byte at a time must not hold its thread for long either.
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(options_.io_timeout_seconds);
  while (raw.find("\r\n\r\n") == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline) return;
    if (raw.size() > options_.max_request_bytes) {
      WriteAll(client,
               Serialize(TextResponse(
                             431, absl::StrCat("request headers over ",
                                               options_.max_request_bytes, " bytes\n")),
                         false));
      return;
    }
    const ssize_t n = recv(client, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // gone, or silent past the timeout
    raw.append(buf, static_cast<size_t>(n));
  }
  HttpRequest req;
  if (!Parse(raw, &req)) {
    WriteAll(client, Serialize(TextResponse(400, "malformed HTTP request\n"), false));
    return;
  }
  const bool head = req.method == "HEAD";
  if (head) req.method = "GET";
  WriteAll(client, Serialize(handler_(req), head));
}

}  // namespace rib
