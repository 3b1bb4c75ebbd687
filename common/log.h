// Levelled logging to stderr (our Abseil has no absl/log). Thread-safe: each message is
// written with one write() call.
//   RIB_LOG(INFO) << "leased job " << id;
// The threshold and the format are set once by main() (SetLogLevel, SetLogFormat), from
// the --log-level and --log-format flags. A text line reads
//   I 2026-12-01T19:54:00.123Z coordinator server.cc:42] leased job j-1
// (level letter, ISO-8601 UTC time with milliseconds, tag, source, message); a JSON line
//   {"time":"2026-12-01T19:54:00.123Z","level":"info","tag":"coordinator",
//    "source":"server.cc:42","message":"leased job j-1"}
// is one object per line, for log collectors.
#ifndef RIB_COMMON_LOG_H_
#define RIB_COMMON_LOG_H_

#include <sstream>
#include <string>
#include <string_view>

namespace rib {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
enum class LogFormat { kText, kJson };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// "debug", "info", "warning", "error"; false when unknown.
bool ParseLogLevel(std::string_view text, LogLevel* level);
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();
// "text", "json"; false when unknown.
bool ParseLogFormat(std::string_view text, LogFormat* format);
// A short tag printed in every line (e.g. "coordinator", "worker", "rank1").
void SetLogTag(std::string tag);

namespace internal {
class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  const char* file_;
  int line_;
  std::ostringstream stream_;
};
struct LogVoidify {
  void operator&(std::ostream&) {}
};
}  // namespace internal
}  // namespace rib

#define RIB_LOG_LEVEL_DEBUG ::rib::LogLevel::kDebug
#define RIB_LOG_LEVEL_INFO ::rib::LogLevel::kInfo
#define RIB_LOG_LEVEL_WARNING ::rib::LogLevel::kWarning
#define RIB_LOG_LEVEL_ERROR ::rib::LogLevel::kError

#define RIB_LOG(severity)                                                             \
  (RIB_LOG_LEVEL_##severity < ::rib::GetLogLevel())                                   \
      ? (void)0                                                                       \
      : ::rib::internal::LogVoidify() &                                               \
            ::rib::internal::LogMessage(RIB_LOG_LEVEL_##severity, __FILE__, __LINE__) \
                .stream()

#endif  // RIB_COMMON_LOG_H_
