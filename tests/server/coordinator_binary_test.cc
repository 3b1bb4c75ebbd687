// rib-test-labels: postgres
// The rib-coordinator binary: port 0 and the "listening on" line, flags spelled with
// dashes, the gRPC health service, Prometheus metrics over HTTP, a clean exit on
// SIGTERM, and TLS: plaintext only on loopback unless --insecure-listen, and TLS with
// --tls-cert/--tls-key.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/hash.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/tls/credentials.h"
#include "rib/v1/coordinator.grpc.pb.h"
#include "tests/server/testing/list_sweeps_call.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/server/testing/tokens.h"
#include "tests/testing/http_get.h"
#include "tests/testing/test_certs.h"
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
  ::rib::testing::AuthContext ctx(
      ::rib::testing::MakeToken(::rib::testing::PgTestUri(), "alice"));
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
  // The calls above were timed (ListSweeps once; the health check under its service).
  EXPECT_THAT(metrics, ::testing::HasSubstr("# TYPE rib_rpc_duration_seconds histogram"));
  EXPECT_THAT(metrics, ::testing::HasSubstr(
                           "rib_rpc_duration_seconds_count{code=\"OK\",method=\"ListSweeps\","
                           "service=\"rib.v1.Coordinator\"} 1\n"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("method=\"Check\",service=\"grpc.health.v1.Health\""));
  EXPECT_THAT(metrics, ::testing::HasSubstr("rib_job_queue_wait_seconds_count 0\n"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("rib_build_info{"));

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

// The URI may come from $RIB_DATABASE_URL instead of the command line (where `ps`
// would show its password): the coordinator starts and serves.
TEST(CoordinatorBinaryTest, DatabaseUriFromTheEnvironment) {
  const std::string bin =
      std::string(std::getenv("RIB_BINARY_DIR")) + "/bin/rib-coordinator";
  // Waits up to 30 s for the "listening on" line, then stops it.
  const std::string cmd =
      "out=$(mktemp); RIB_DATABASE_URL='" + ::rib::testing::PgTestUri() + "' " + bin +
      " --listen=127.0.0.1:0 --artifact-root=/tmp >$out 2>&1 & "
      "pid=$!; for i in $(seq 300); do grep -q 'listening on' $out && "
      "break; sleep 0.1; done; kill $pid; wait $pid; cat $out; rm $out";
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof(buf), f) != nullptr) out += buf;
  pclose(f);
  EXPECT_THAT(out, ::testing::HasSubstr("listening on 127.0.0.1:")) << out;
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("--database is required")));
}

// rib-coordinator with `args` (after --database), stdout read for the "listening on"
// line, stderr to a file. Stopped with SIGTERM on destruction.
class CoordinatorProcess {
 public:
  explicit CoordinatorProcess(const std::vector<std::string>& args,
                              const std::string& stderr_file)
      : stderr_file_(stderr_file) {
    const std::string bin =
        std::string(std::getenv("RIB_BINARY_DIR")) + "/bin/rib-coordinator";
    std::vector<std::string> argv = {bin, "--database=" + ::rib::testing::PgTestUri(),
                                     "--artifact-root=/tmp"};
    argv.insert(argv.end(), args.begin(), args.end());
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      FILE* err = std::fopen(stderr_file.c_str(), "w");
      if (err != nullptr) dup2(fileno(err), 2);
      close(out[0]);
      std::vector<char*> c;
      for (const std::string& a : argv) c.push_back(const_cast<char*>(a.c_str()));
      c.push_back(nullptr);
      execv(bin.c_str(), c.data());
      _exit(127);
    }
    close(out[1]);
    out_ = fdopen(out[0], "r");
  }
  ~CoordinatorProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    if (out_ != nullptr) fclose(out_);
  }
  // The first stdout line ("" when the process printed none before exiting).
  std::string FirstLine() {
    char line[256] = {0};
    if (out_ == nullptr || fgets(line, sizeof(line), out_) == nullptr) return "";
    return std::string(line);
  }
  std::string Stderr() const {
    std::ifstream in(stderr_file_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  std::string stderr_file_;
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

int PortOf(const std::string& listening_line) {
  return std::atoi(listening_line.c_str() + listening_line.rfind(':') + 1);
}

TEST(CoordinatorBinaryTest, RefusesPlaintextOnANonLoopbackAddress) {
  const std::string bin =
      std::string(std::getenv("RIB_BINARY_DIR")) + "/bin/rib-coordinator";
  for (const char* listen : {"0.0.0.0:0", "[::]:0"}) {
    const std::string cmd = bin + " --database=" + ::rib::testing::PgTestUri() +
                            " --listen=" + listen + " 2>&1";
    FILE* f = popen(cmd.c_str(), "r");
    ASSERT_NE(f, nullptr);
    std::string out;
    char buf[512];
    while (fgets(buf, sizeof(buf), f) != nullptr) out += buf;
    const int rc = pclose(f);
    ASSERT_TRUE(WIFEXITED(rc)) << listen;
    EXPECT_EQ(WEXITSTATUS(rc), 2) << listen << ": " << out;
    EXPECT_THAT(out, ::testing::HasSubstr(std::string("--listen=") + listen));
    EXPECT_THAT(out, ::testing::HasSubstr("--tls-cert"));
    EXPECT_THAT(out, ::testing::HasSubstr("--insecure-listen"));
    EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("listening on")));
  }
}

// `rib-coordinator token create` runs `command` (after the binary and --database) and
// returns its exit status and stdout.
std::pair<int, std::string> RunTokenCreate(const std::string& args) {
  const std::string bin =
      std::string(std::getenv("RIB_BINARY_DIR")) + "/bin/rib-coordinator";
  const std::string cmd = bin + " --database=" + ::rib::testing::PgTestUri() +
                          " --log-level=warning token create " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (p != nullptr && fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = p == nullptr ? -1 : pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(CoordinatorBinaryTest, TokenCreateBootstrapsAnAdminStoringOnlyTheHash) {
  auto [code, out] = RunTokenCreate("--user=ops --role=admin");
  ASSERT_EQ(code, 0) << out;
  const std::string token = out.substr(0, out.find('\n'));
  ASSERT_THAT(token, ::testing::MatchesRegex("rib_[0-9a-f]{64}"));
  EXPECT_THAT(out, ::testing::HasSubstr("shown only this once"));
  // Stored by hash, with the user and role; the token itself is nowhere.
  EXPECT_EQ(::rib::testing::QueryOne(
                ::rib::testing::PgTestUri(),
                "SELECT user_name || ':' || role FROM tokens WHERE hash = '" +
                    Sha256Hex(token) + "'"),
            "ops:admin");
  EXPECT_EQ(::rib::testing::QueryOne(::rib::testing::PgTestUri(),
                                     "SELECT count(*) FROM tokens WHERE hash LIKE '%" +
                                         token.substr(4) + "%'"),
            "0");

  auto [bad_role, role_out] = RunTokenCreate("--user=ops --role=root");
  EXPECT_EQ(bad_role, 2);
  EXPECT_THAT(role_out,
              ::testing::HasSubstr("--role 'root' is not user, admin or worker"));
  auto [bad_user, user_out] = RunTokenCreate("--user='a b' --role=user");
  EXPECT_EQ(bad_user, 2);
  EXPECT_THAT(user_out, ::testing::HasSubstr("user name \"a b\""));
}

TEST(CoordinatorBinaryTest, InsecureListenServesPlaintextWithAWarning) {
  ::rib::testing::ScratchDir dir;
  CoordinatorProcess coordinator({"--listen=0.0.0.0:0", "--insecure-listen"},
                                 dir.Join("stderr"));
  const std::string first = coordinator.FirstLine();
  ASSERT_EQ(first.rfind("listening on 0.0.0.0:", 0), 0u) << first << coordinator.Stderr();
  grpc::Status s = ::rib::testing::ListSweepsCall(
      absl::StrCat("127.0.0.1:", PortOf(first)), tls::ClientTlsOptions(),
      ::rib::testing::MakeToken(::rib::testing::PgTestUri(), "alice"));
  EXPECT_TRUE(s.ok()) << s.error_message();
  // A WARNING line ("W hh:mm:ss ...").
  EXPECT_THAT(
      coordinator.Stderr(),
      ::testing::ContainsRegex("(^|\n)W [^\n]*] serving PLAINTEXT on 0\\.0\\.0\\.0:"));
}

TEST(CoordinatorBinaryTest, ServesTlsWithCertificateFlags) {
  ::rib::testing::ScratchDir dir;
  const ::rib::testing::TestCertificates certs =
      ::rib::testing::MakeTestCertificatesOrSkip(dir.path());
  CoordinatorProcess coordinator(
      {"--listen=0.0.0.0:0", "--tls-cert=" + certs.server_cert,
       "--tls-key=" + certs.server_key, "--tls-client-ca=" + certs.ca_cert},
      dir.Join("stderr"));
  const std::string first = coordinator.FirstLine();
  ASSERT_EQ(first.rfind("listening on 0.0.0.0:", 0), 0u) << first << coordinator.Stderr();
  const std::string address = absl::StrCat("127.0.0.1:", PortOf(first));
  tls::ClientTlsOptions tls;
  tls.ca_file = certs.ca_cert;
  tls.cert_file = certs.client_cert;
  tls.key_file = certs.client_key;
  const std::string token =
      ::rib::testing::MakeToken(::rib::testing::PgTestUri(), "alice");
  grpc::Status s = ::rib::testing::ListSweepsCall(address, tls, token);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(::rib::testing::ListSweepsCall(address, tls::ClientTlsOptions(), token)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(coordinator.Stderr(), ::testing::Not(::testing::HasSubstr("PLAINTEXT")));
}

TEST(CoordinatorBinaryTest, UnreadableCertificateFailsNamingTheFile) {
  ::rib::testing::ScratchDir dir;
  CoordinatorProcess coordinator(
      {"--listen=127.0.0.1:0", "--tls-cert=" + dir.Join("absent.pem"),
       "--tls-key=" + dir.Join("absent.key")},
      dir.Join("stderr"));
  EXPECT_EQ(coordinator.FirstLine(), "");  // exited without listening
  EXPECT_THAT(coordinator.Stderr(), ::testing::HasSubstr("absent.pem"));
}

}  // namespace
}  // namespace rib
