// rib-test-labels: postgres
// The rib-coordinator binary: port 0 and the "listening on" line, flags spelled with
// dashes, the gRPC health service, Prometheus metrics over HTTP, and a clean exit on
// SIGTERM.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rib/v1/coordinator.grpc.pb.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/testing/http_get.h"
#include "tests/testing/test_env.h"

namespace rib {
namespace {

std::string Bytes(grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const auto& sl : slices) {
    out.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  }
  return out;
}

// grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo, asking list_services
// (field 7, an empty string), through a generic bidi call: our gRPC ships no client
// stubs for reflection.
class ListServicesReactor
    : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit ListServicesReactor(grpc::GenericStub* stub) {
    grpc::Slice slice(std::string("\x3a\x00", 2));
    request_ = grpc::ByteBuffer(&slice, 1);
    stub->PrepareBidiStreamingCall(
        &ctx_, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        grpc::StubOptions(), this);
    StartWrite(&request_);
    StartRead(&response_);
    StartCall();
  }
  void OnWriteDone(bool) override { StartWritesDone(); }
  void OnReadDone(bool ok) override {
    if (ok) reply_ = Bytes(response_);
  }
  void OnDone(const grpc::Status& s) override {
    status_ = s;
    done_.Notify();
  }
  bool Wait() { return done_.WaitForNotificationWithTimeout(absl::Seconds(10)); }
  const grpc::Status& status() const { return status_; }
  const std::string& reply() const { return reply_; }

 private:
  grpc::ClientContext ctx_;
  grpc::ByteBuffer request_, response_;
  std::string reply_;
  grpc::Status status_;
  absl::Notification done_;
};

auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new ::rib::testing::PgEnvironment("bin", false));

TEST(CoordinatorBinaryTest, ServesOnPortZeroAndStopsOnSigterm) {
  const char* bin_dir = std::getenv("RIB_BINARY_DIR");
  ASSERT_NE(bin_dir, nullptr);
  const std::string bin = std::string(bin_dir) + "/bin/rib-coordinator";
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const std::string db = "--database=" + ::rib::testing::PgTestUri();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    execl(bin.c_str(), bin.c_str(), db.c_str(), "--listen=127.0.0.1:0",
          "--lease-timeout=5s", "--log-level=warning", "--artifact-root=/tmp",
          "--metrics-listen=127.0.0.1:0", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  FILE* f = fdopen(out[0], "r");
  char line[256] = {0};
  ASSERT_NE(fgets(line, sizeof(line), f), nullptr) << "no output from " << bin;
  const std::string first(line);
  ASSERT_EQ(first.rfind("listening on 127.0.0.1:", 0), 0u) << first;
  const std::string address = first.substr(13, first.find('\n') - 13);
  EXPECT_NE(address, "127.0.0.1:0");
  ASSERT_NE(fgets(line, sizeof(line), f), nullptr) << "no metrics line from " << bin;
  const std::string second(line);
  ASSERT_EQ(second.rfind("metrics on 127.0.0.1:", 0), 0u) << second;
  const int metrics_port =
      std::atoi(second.c_str() + std::strlen("metrics on 127.0.0.1:"));
  EXPECT_GT(metrics_port, 0);

  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  // The schema was migrated and the client API answers.
  auto stub = v1::Coordinator::NewStub(channel);
  grpc::ClientContext ctx;
  v1::ListSweepsResponse sweeps;
  grpc::Status s = stub->ListSweeps(&ctx, v1::ListSweepsRequest(), &sweeps);
  EXPECT_TRUE(s.ok()) << s.error_message();
  int migrations = 0;  // every migrations/*.sql was applied
  for (const auto& e :
       std::filesystem::directory_iterator(::rib::testing::SourceDir() + "/migrations")) {
    migrations += e.path().extension() == ".sql";
  }
  EXPECT_GE(migrations, 4);
  EXPECT_EQ(::rib::testing::QueryOne(::rib::testing::PgTestUri(),
                                     "SELECT count(*) FROM schema_migrations"),
            std::to_string(migrations));

  // grpc.health.v1.Health/Check with an empty request: SERVING is field 1 = 1.
  grpc::GenericStub generic(channel);
  grpc::ClientContext hctx;
  grpc::ByteBuffer request, response;
  grpc::Slice empty("", 0);
  request = grpc::ByteBuffer(&empty, 1);
  absl::Notification done;
  grpc::Status health;
  generic.UnaryCall(&hctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status st) {
                      health = st;
                      done.Notify();
                    });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(health.ok()) << health.error_message();
  EXPECT_EQ(Bytes(response), std::string("\x08\x01", 2));

  // Server reflection lists both services.
  ListServicesReactor reflection(&generic);
  ASSERT_TRUE(reflection.Wait());
  EXPECT_TRUE(reflection.status().ok()) << reflection.status().error_message();
  EXPECT_THAT(reflection.reply(), ::testing::HasSubstr("rib.v1.Coordinator"));
  EXPECT_THAT(reflection.reply(), ::testing::HasSubstr("rib.v1.WorkerApi"));

  // Prometheus text format, read from PostgreSQL at scrape time (no sweeps yet).
  const std::string metrics = ::rib::testing::HttpGet(metrics_port, "/metrics");
  EXPECT_THAT(metrics, ::testing::HasSubstr("200 OK"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("# TYPE rib_jobs gauge"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("rib_jobs{state=\"QUEUED\"} 0"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("rib_workers{state=\"ACTIVE\"} 0"));

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    usleep(100'000);
    if (i == 99) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      FAIL() << "rib-coordinator did not stop within 10 s of SIGTERM";
    }
  }
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  fclose(f);
}

TEST(CoordinatorBinaryTest, RequiresADatabase) {
  const std::string bin =
      std::string(std::getenv("RIB_BINARY_DIR")) + "/bin/rib-coordinator";
  const std::string cmd = bin + " --listen=127.0.0.1:0 >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 2);
}

// --sweep-interval was renamed --lease-expiry-interval; the old name still parses (the
// binary gets as far as asking for --database, not "unknown flag").
TEST(CoordinatorBinaryTest, LeaseExpiryIntervalAndItsDeprecatedAlias) {
  const std::string bin =
      std::string(std::getenv("RIB_BINARY_DIR")) + "/bin/rib-coordinator";
  for (const char* flag : {"--lease-expiry-interval=200ms", "--sweep-interval=200ms",
                           "--sweep_interval=200ms"}) {
    const std::string cmd = bin + " " + flag + " 2>&1";
    FILE* f = popen(cmd.c_str(), "r");
    ASSERT_NE(f, nullptr);
    std::string out;
    char buf[256];
    while (fgets(buf, sizeof(buf), f) != nullptr) out += buf;
    const int rc = pclose(f);
    ASSERT_TRUE(WIFEXITED(rc)) << flag;
    EXPECT_EQ(WEXITSTATUS(rc), 2) << flag << ": " << out;
    EXPECT_THAT(out, ::testing::HasSubstr("--database is required")) << flag;
  }
  FILE* f = popen((bin + " --help 2>&1").c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string help;
  char buf[256];
  while (fgets(buf, sizeof(buf), f) != nullptr) help += buf;
  pclose(f);
  EXPECT_THAT(help, ::testing::HasSubstr("lease-expiry-interval"));
}

}  // namespace
}  // namespace rib
