// What a log collector relies on: each text line starts with the level letter and an
// ISO-8601 UTC timestamp; each JSON line is one object that parses back to the message.
#include "common/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "common/json_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rib {
namespace {

// Runs `log` with stderr redirected to a temporary file and returns what was written.
template <typename F>
std::string CaptureStderr(F log) {
  char path[] = "/tmp/rib_log_test.XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  const int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  log();
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::string out;
  lseek(fd, 0, SEEK_SET);
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, n);
  close(fd);
  unlink(path);
  return out;
}

class LogTest : public ::testing::Test {
 protected:
  void TearDown() override {
    SetLogFormat(LogFormat::kText);
    SetLogTag("");
    SetLogLevel(LogLevel::kInfo);
  }
};

TEST_F(LogTest, TextLineHasLevelIsoUtcTimeTagAndSource) {
  SetLogTag("coordinator");
  const std::string out = CaptureStderr([] { RIB_LOG(WARNING) << "lease of j-1 expired"; });
  EXPECT_THAT(out, ::testing::MatchesRegex(
                       "W [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                       "coordinator log_test\\.cc:[0-9]+\\] lease of j-1 expired\n"));
}

TEST_F(LogTest, JsonLineParsesBackWithEveryField) {
  SetLogFormat(LogFormat::kJson);
  SetLogTag("worker");
  const std::string out =
      CaptureStderr([] { RIB_LOG(ERROR) << "bad \"quote\"\nand a newline\t"; });
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  // One line: the message's own newline is escaped inside the string.
  EXPECT_EQ(out.find('\n'), out.size() - 1) << out;
  absl::StatusOr<JsonValue> parsed = ParseJson(out.substr(0, out.size() - 1));
  ASSERT_TRUE(parsed.ok()) << parsed.status() << " in " << out;
  ASSERT_NE(parsed->Get("message"), nullptr);
  EXPECT_EQ(parsed->Get("message")->text, "bad \"quote\"\nand a newline\t");
  EXPECT_EQ(parsed->Get("level")->text, "error");
  EXPECT_EQ(parsed->Get("tag")->text, "worker");
  EXPECT_THAT(parsed->Get("source")->text, ::testing::MatchesRegex("log_test\\.cc:[0-9]+"));
  EXPECT_THAT(parsed->Get("time")->text,
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z"));
}

TEST_F(LogTest, BelowThresholdWritesNothing) {
  SetLogLevel(LogLevel::kWarning);
  EXPECT_EQ(CaptureStderr([] { RIB_LOG(INFO) << "quiet"; }), "");
}

TEST(ParseLogFormatTest, KnownAndUnknownNames) {
  LogFormat format = LogFormat::kText;
  EXPECT_TRUE(ParseLogFormat("json", &format));
  EXPECT_EQ(format, LogFormat::kJson);
  EXPECT_TRUE(ParseLogFormat("text", &format));
  EXPECT_EQ(format, LogFormat::kText);
  EXPECT_FALSE(ParseLogFormat("yaml", &format));
}

}  // namespace
}  // namespace rib
