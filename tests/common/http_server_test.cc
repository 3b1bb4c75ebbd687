// HttpServer (common/http_server.h): a real socket on port 0.
#include "common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/http_get.h"
#include "tests/testing/status_matchers.h"

namespace rib {
namespace {

using ::rib::testing::HttpBody;
using ::rib::testing::HttpGet;
using ::rib::testing::HttpSend;
using ::rib::testing::HttpStatus;
using ::testing::HasSubstr;
using ::testing::Not;

// Answers with what it parsed: "METHOD PATH|k=v|...|auth".
HttpResponse Echo(const HttpRequest& req) {
  std::string body = absl::StrCat(req.method, " ", req.path);
  for (const auto& [k, v] : req.query) absl::StrAppend(&body, "|", k, "=", v);
  absl::StrAppend(&body, "|", req.Header("authorization"));
  HttpResponse r = TextResponse(200, body);
  r.headers.emplace_back("X-Test", "yes");
  return r;
}

TEST(HttpServerTest, ParsesPathQueryAndHeaders) {
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<HttpServer> server,
                           HttpServer::Start("127.0.0.1:0", Echo));
  const std::string r = HttpGet(server->port(), "/a%20b?state=FAILED&q=two+words&empty",
                                "Authorization: Bearer x\r\n");
  EXPECT_EQ(HttpStatus(r), 200);
  EXPECT_THAT(r, HasSubstr("X-Test: yes"));
  EXPECT_EQ(HttpBody(r), "GET /a b|empty=|q=two words|state=FAILED|Bearer x");
  // HEAD: the headers of the GET, no body.
  const std::string head = HttpSend(server->port(), "HEAD /x HTTP/1.0\r\n\r\n");
  EXPECT_EQ(HttpStatus(head), 200);
  EXPECT_THAT(head, HasSubstr("Content-Length: 7"));  // the body of GET: "GET /x|"
  EXPECT_EQ(HttpBody(head), "");
}

TEST(HttpServerTest, MalformedAndOversizedRequestsAreRefused) {
  HttpServerOptions options;
  options.max_request_bytes = 1024;
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<HttpServer> server,
                           HttpServer::Start("127.0.0.1:0", Echo, options));
  EXPECT_EQ(HttpStatus(HttpGet(server->port(), "/bad%zz")), 400);
  EXPECT_EQ(HttpStatus(HttpGet(server->port(), "/nul%00")), 400);
  EXPECT_EQ(HttpStatus(HttpSend(server->port(), "GET relative HTTP/1.0\r\n\r\n")), 400);
  const std::string big =
      HttpGet(server->port(), "/", "X-Pad: " + std::string(4096, 'x') + "\r\n");
  EXPECT_EQ(HttpStatus(big), 431);
  EXPECT_THAT(HttpBody(big), HasSubstr("over 1024 bytes"));
}

// A connected socket to 127.0.0.1:port (-1 on failure).
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(HttpServerTest, AClientTricklingItsRequestIsDroppedAtTheDeadline) {
  HttpServerOptions options;
  options.io_timeout_seconds = 1;
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<HttpServer> server,
                           HttpServer::Start("127.0.0.1:0", Echo, options));
  const int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  // One byte every 0.2 s: each recv is quick, the whole request is not.
  const std::string request = "GET /slow HTTP/1.0\r\nX: y\r\n\r\n";
  size_t sent = 0;
  for (; sent < request.size(); ++sent) {
    if (send(fd, &request[sent], 1, MSG_NOSIGNAL) != 1) break;
    usleep(200 * 1000);
  }
  char buf[256];
  const ssize_t n = recv(fd, buf, sizeof(buf), 0);
  close(fd);
  EXPECT_LT(sent, request.size());  // the server hung up before it all arrived
  EXPECT_LE(n, 0);                  // and answered nothing
}

TEST(HttpServerTest, ConnectionsBeyondTheBoundGet503) {
  HttpServerOptions options;
  options.max_connections = 1;
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<HttpServer> server,
                           HttpServer::Start("127.0.0.1:0", Echo, options));
  // A client that connects and says nothing holds the one connection...
  const int silent = Connect(server->port());
  ASSERT_GE(silent, 0);
  // ...so the next one is told to retry, at once.
  const std::string busy = HttpGet(server->port(), "/x");
  EXPECT_EQ(HttpStatus(busy), 503) << busy;
  close(silent);
  // Once it is gone, requests are served again.
  std::string again;
  for (int i = 0; i < 50 && HttpStatus(again) != 200; ++i) {
    again = HttpGet(server->port(), "/x");
    if (HttpStatus(again) != 200) usleep(100 * 1000);
  }
  EXPECT_EQ(HttpStatus(again), 200);
  EXPECT_THAT(again, Not(HasSubstr("too many")));
}

}  // namespace
}  // namespace rib
