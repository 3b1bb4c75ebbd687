// Plain HTTP/1.0 clients for tests of the metrics and dashboard endpoints: the whole
// response (status line, headers, body) as a string; "" when the connection fails.
#ifndef RIB_TESTS_TESTING_HTTP_GET_H_
#define RIB_TESTS_TESTING_HTTP_GET_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace rib::testing {

// Sends `request` (a whole HTTP request) to 127.0.0.1:`port` and reads the response.
inline std::string HttpSend(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    if (write(fd, request.data(), request.size()) ==
        static_cast<ssize_t>(request.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0)
        out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

// GET `path`, with `headers` ("Authorization: Bearer T\r\n"; each line ends in CRLF).
inline std::string HttpGet(int port, const std::string& path,
                           const std::string& headers = "") {
  return HttpSend(port, "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n" + headers +
                            "Connection: close\r\n\r\n");
}

// The status code of a response (0 when there is no status line), and its body.
inline int HttpStatus(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.substr(9, 3).c_str());
}
inline std::string HttpBody(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

}  // namespace rib::testing

#endif  // RIB_TESTS_TESTING_HTTP_GET_H_
