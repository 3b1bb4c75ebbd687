#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/json.h"

namespace rib {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};
std::mutex g_tag_mu;
std::string* g_tag = new std::string();  // never destroyed: usable during exit

const char* LevelLetter(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "D";
    case LogLevel::kInfo:
      return "I";
    case LogLevel::kWarning:
      return "W";
    case LogLevel::kError:
      return "E";
  }
  return "?";
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

std::string CurrentTag() {
  std::lock_guard<std::mutex> lock(g_tag_mu);
  return *g_tag;
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }

bool ParseLogLevel(std::string_view text, LogLevel* level) {
  if (text == "debug")
    *level = LogLevel::kDebug;
  else if (text == "info")
    *level = LogLevel::kInfo;
  else if (text == "warning" || text == "warn")
    *level = LogLevel::kWarning;
  else if (text == "error")
    *level = LogLevel::kError;
  else
    return false;
  return true;
}

void SetLogFormat(LogFormat format) { g_format.store(static_cast<int>(format)); }
LogFormat GetLogFormat() { return static_cast<LogFormat>(g_format.load()); }

bool ParseLogFormat(std::string_view text, LogFormat* format) {
  if (text == "text")
    *format = LogFormat::kText;
  else if (text == "json")
    *format = LogFormat::kJson;
  else
    return false;
  return true;
}

void SetLogTag(std::string tag) {
  std::lock_guard<std::mutex> lock(g_tag_mu);
  *g_tag = std::move(tag);
}

namespace internal {

LogMessage::LogMessage(LogLevel level, const char* file, int line)
    : level_(level), file_(file), line_(line) {}

LogMessage::~LogMessage() {
  const char* base = std::strrchr(file_, '/');
  const std::string source = absl::StrCat(base != nullptr ? base + 1 : file_, ":", line_);
  const std::string time =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  const std::string tag = CurrentTag();
  std::string s;
  if (GetLogFormat() == LogFormat::kJson) {
    JsonValue line = JsonValue::Object();
    line.Set("time", JsonValue::String(time));
    line.Set("level", JsonValue::String(LevelName(level_)));
    if (!tag.empty()) line.Set("tag", JsonValue::String(tag));
    line.Set("source", JsonValue::String(source));
    line.Set("message", JsonValue::String(stream_.str()));
    s = WriteJson(line) + "\n";
  } else {
    s = absl::StrCat(LevelLetter(level_), " ", time, " ", tag, tag.empty() ? "" : " ",
                     source, "] ", stream_.str(), "\n");
  }
  ssize_t ignored = ::write(STDERR_FILENO, s.data(), s.size());
  (void)ignored;
}

}  // namespace internal
}  // namespace rib
