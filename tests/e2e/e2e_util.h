// Helpers of the end-to-end tests: child processes (rib-coordinator, rib-worker), a
// fresh PostgreSQL database per test, the FMNIST-RIB data root and tiny model weights,
// and a gRPC client of the coordinator.
#ifndef RIB_TESTS_E2E_E2E_UTIL_H_
#define RIB_TESTS_E2E_E2E_UTIL_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/tls/credentials.h"
#include "rib/v1/coordinator.grpc.pb.h"
#include "rib/v1/worker.grpc.pb.h"

namespace rib::e2e {

// A child process whose stdout and stderr go to `log`. The destructor kills (SIGKILL)
// and reaps it if it is still running.
class Child {
 public:
  static absl::StatusOr<std::unique_ptr<Child>> Start(const std::vector<std::string>& argv,
                                                      const std::string& log);
  ~Child();
  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // The exit code (or 128 + signal) once it exited within `timeout`; nullopt otherwise.
  std::optional<int> Wait(absl::Duration timeout);
  bool running();
  std::string ReadLog() const;
  const std::string& log() const { return log_; }

 private:
  Child(pid_t pid, std::string log) : pid_(pid), log_(std::move(log)) {}
  pid_t pid_;
  std::string log_;
  std::optional<int> status_;
};

// $RIB_BINARY_DIR/bin/<name>.
std::string Binary(const std::string& name);

// Exits the test binary as skipped (exit 77, rib::testing::kSkipExitCode) when
// RIB_TEST_PG_ADMIN_URL is not set: every e2e test needs a PostgreSQL.
void SkipUnlessPostgres();

// A database created for one test from $RIB_TEST_PG_ADMIN_URL and dropped afterwards.
class TestDatabase {
 public:
  // nullptr when no PostgreSQL is configured (the test should be skipped).
  static absl::StatusOr<std::unique_ptr<TestDatabase>> Create();
  // The same on the server of `admin_url`.
  static absl::StatusOr<std::unique_ptr<TestDatabase>> Create(const std::string& admin_url);
  ~TestDatabase();
  const std::string& url() const { return url_; }

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

// Builds the FMNIST-RIB suite under `data_root` and writes seeded random fmnist_vit
// weights (10 classes) to `weights_path`.
absl::Status PrepareDataAndModel(const std::string& data_root,
                                 const std::string& weights_path);

// rib-coordinator on a free port of 127.0.0.1, with the given lease timing and any
// `extra_flags` (e.g. --tls-cert=...).
// Once it listens, two tokens are made with `rib-coordinator token create` (as the
// demo does): a user's (`user_token`, user "e2e") and a worker's, written to
// `worker_token_file` (beside `log`, mode 0600) for rib-worker --token-file.
struct CoordinatorProcess {
  std::unique_ptr<Child> child;
  std::string address;
  std::string user_token;
  std::string worker_token;
  std::string worker_token_file;
};
absl::StatusOr<CoordinatorProcess> StartCoordinator(
    const std::string& database_url, const std::string& artifact_root,
    const std::string& log, const std::vector<std::string>& extra_flags = {});

// rib-coordinator again on `c`'s address (after it was killed), with the same flags
// as StartCoordinator and `extra_flags`; keeps c's tokens. Its output goes to `log`.
absl::Status RestartCoordinator(CoordinatorProcess* c, const std::string& database_url,
                                const std::string& artifact_root, const std::string& log,
                                const std::vector<std::string>& extra_flags = {});

// A PostgreSQL 15 cluster of one test's own (initdb in `dir`, a free port of
// 127.0.0.1), for tests that restart the server. As root it runs as user postgres.
class PgCluster {
 public:
  static absl::StatusOr<std::unique_ptr<PgCluster>> Start(const std::string& dir);
  ~PgCluster();  // stops it (fast mode)
  // "postgresql://postgres@127.0.0.1:PORT/postgres".
  std::string admin_url() const;
  // pg_ctl restart -m immediate: every connection is cut without a checkpoint, and the
  // server starts again with crash recovery, on the same port.
  absl::Status RestartImmediate();
  std::string log() const { return dir_ + "/server.log"; }

 private:
  PgCluster(std::string dir, int port) : dir_(std::move(dir)), port_(port) {}
  absl::Status PgCtl(const std::string& args) const;
  std::string dir_;
  int port_;
};

absl::StatusOr<std::unique_ptr<Child>> StartWorker(
    const std::string& coordinator, const std::string& name, const std::string& data_root,
    const std::string& artifact_root, const std::string& log,
    const std::string& devices = "cpu:1",
    const std::vector<std::string>& extra_flags = {});

// The coordinator's heartbeat interval and lease timeout in these tests.
inline constexpr absl::Duration kHeartbeatInterval = absl::Milliseconds(500);
inline constexpr absl::Duration kLeaseTimeout = absl::Seconds(3);

// Client calls.
class Client {
 public:
  // Plaintext unless `tls` says otherwise (the channel the CLI would build).
  // Every call carries `token` ("" = none).
  Client(const std::string& address, const std::string& token,
         const tls::ClientTlsOptions& tls = tls::ClientTlsOptions());
  absl::StatusOr<std::string> Submit(const std::string& yaml);
  absl::StatusOr<v1::Sweep> GetSweep(const std::string& sweep_id);
  absl::StatusOr<std::vector<v1::Job>> Jobs(const std::string& sweep_id);
  absl::StatusOr<v1::Job> GetJob(const std::string& job_id);
  absl::StatusOr<v1::GetMatrixResponse> Matrix(const std::string& sweep_id);
  absl::Status Cancel(const std::string& sweep_id);
  // Polls until the sweep is no longer ACTIVE; returns its final state.
  absl::StatusOr<v1::SweepState> WaitForSweep(const std::string& sweep_id,
                                              absl::Duration timeout);
  v1::WorkerApi::Stub& worker_api() { return *worker_api_; }
  // From now on the reads (GetSweep, Jobs, GetJob, Matrix) are retried while they
  // answer UNAVAILABLE, for up to `d` (default 0: not retried), as a user's client would
  // across faults: right after a coordinator restart the channel's old connection is
  // broken ("Broken pipe"), and during a PostgreSQL restart the coordinator answers
  // UNAVAILABLE until it reconnects.
  void RetryReadsWhileUnavailable(absl::Duration d) { read_retry_ = d; }
  absl::Duration read_retry() const { return read_retry_; }
  // A context with the token and a 20 s deadline.
  void Prepare(grpc::ClientContext* ctx) const;

 private:

  std::string token_;
  absl::Duration read_retry_ = absl::ZeroDuration();
  std::unique_ptr<v1::Coordinator::Stub> stub_;
  std::unique_ptr<v1::WorkerApi::Stub> worker_api_;
};

// "model/method/<finetune or pre>/<eval dataset>" → "correct/total" of every present
// cell, for comparing matrices of two runs exactly.
std::map<std::string, std::string> MatrixCells(const v1::GetMatrixResponse& matrix);

// Live processes (not zombies) whose command line contains every one of `needles`.
std::set<pid_t> FindProcesses(const std::vector<std::string>& needles);

}  // namespace rib::e2e

#endif  // RIB_TESTS_E2E_E2E_UTIL_H_
