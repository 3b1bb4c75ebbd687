// The coordinator as one object (Arrow Flight's FlightServerBase): the database
// (migrations, repository, change notifier), the services, the gRPC server and the
// background loops (lease expiry, event pruning, metrics). rib-coordinator's main()
// and the tests build it the same way:
//
//   RIB_ASSIGN_OR_RETURN(auto coordinator, Coordinator::Create(options));
//   RIB_RETURN_IF_ERROR(coordinator->Start());
//   ... coordinator->port() ...
//   coordinator->Shutdown();
//
// Thread-safe: Start and Shutdown may be called from any thread (Shutdown from a
// signal-waiting thread while calls are being served).
#ifndef RIB_SERVER_COORDINATOR_H_
#define RIB_SERVER_COORDINATOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/scheduling/clock.h"
#include "server/storage/postgres/connection_options.h"
#include "server/storage/postgres/migrations.h"

namespace grpc {
class Server;
class ServerCredentials;
}  // namespace grpc

namespace rib {
class HttpServer;
class MetricsHttpServer;
namespace http {
class Dashboard;
}  // namespace http
namespace rpc {
class Authz;
class CoordinatorService;
class DashboardApi;
class WorkerApiService;
}  // namespace rpc
namespace service {
class CoordinatorMetrics;
class EventPruner;
class IdentityService;
class LeaseExpirer;
class SweepService;
class WorkerService;
}  // namespace service
namespace storage {
class PgChangeNotifier;
class PostgresRepository;
}  // namespace storage

struct CoordinatorOptions {
  // libpq URI of the PostgreSQL database. Required.
  std::string database_uri;
  // Schema migrations applied at Create (all pending ones, under an advisory lock).
  // Default: the migrations/ folder compiled into the binary.
  std::vector<storage::pg::Migration> migrations = storage::pg::EmbeddedMigrations();
  // How long Create keeps retrying an unreachable database (PostgreSQL may still be
  // starting). Default 0: fail at once with UNAVAILABLE.
  absl::Duration connect_timeout = absl::ZeroDuration();
  // PostgreSQL connections in the pool. Default 16: long-polls hold none, so this
  // bounds concurrent transactions, not workers.
  int pool_size = 16;
  // A call that finds every pooled connection busy this long answers UNAVAILABLE.
  // Default 10 s.
  absl::Duration database_acquire_timeout = absl::Seconds(10);
  // libpq connect_timeout (default 5 s), TCP keepalives (~25 s to notice a dead
  // server) and the server-side statement_timeout (default 30 s) of every database
  // connection, unless database_uri sets them: storage/postgres/connection_options.h.
  // Migrations and the LISTEN connection get no statement_timeout.
  storage::pg::ConnectionOptions database_connection;
  // gRPC address, HOST:PORT. Default "127.0.0.1:0": loopback, a free port (port()).
  // Without TLS it must be a loopback address (127.0.0.0/8, [::1], localhost) unless
  // insecure_listen is set: see CheckListenSecurity.
  std::string listen = "127.0.0.1:0";
  // PEM files of the server's certificate (chain) and private key: serve TLS. Both or
  // neither. Default "": plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  // PEM file of the CA that signs client (worker) certificates: every client must
  // present one it signed. Needs tls_cert_file. Default "": no client certificates.
  std::string tls_client_ca_file;
  // Serve plaintext on a non-loopback address anyway (a trusted network, or TLS
  // terminated in front of the coordinator); Start logs a WARNING. Default false: such
  // an address without a certificate is refused.
  bool insecure_listen = false;
  // Weight paths in sweep files are resolved under this folder. Default ".".
  std::string artifact_root = ".";
  // A sweep expanding to more jobs is refused at submit. Default 20,000.
  int64_t max_jobs_per_sweep = 20000;
  // Highest priority a sweep may ask for. Default 10.
  int max_sweep_priority = 10;
  // Accept sweeps whose models are TorchScript (arch "torchscript" or a TorchScript
  // weights file). Default false: a scripted module is code the workers run, and it can
  // read any file a worker can (torch.from_file) and leak it through its outputs.
  bool allow_torchscript = false;
  // The Hugging Face hub cache for `weights: hf-hub:...` (SweepServiceOptions::hf_cache).
  // Default "": main.cc fills it from --hf-cache.
  std::string hf_cache;
  // A lease not renewed within this long expires (told to workers). Default 30 s:
  // three missed heartbeats at the default interval.
  absl::Duration lease_timeout = absl::Seconds(30);
  // Heartbeat interval told to workers. Default 10 s.
  absl::Duration heartbeat_interval = absl::Seconds(10);
  // How often expired leases are looked for. Default 1 s: a dead worker's jobs are
  // requeued within lease_timeout + 1 s.
  absl::Duration lease_expiry_interval = absl::Seconds(1);
  // Progress events of finished jobs older than this are deleted (state and result
  // events are kept). Default 7 days; InfiniteDuration() keeps them all.
  absl::Duration progress_event_retention = absl::Hours(24 * 7);
  // How often old progress events are looked for. Default 10 min.
  absl::Duration prune_interval = absl::Minutes(10);
  // Backstop re-check interval of WatchSweep and of AcquireJob long-polls when no
  // NOTIFY arrives (a lost LISTEN connection). Default 1 s.
  absl::Duration poll = absl::Seconds(1);
  // AcquireJob long-polls waiting at once at most (they hold no thread: the callback
  // API and service::LongPoll); more are answered RESOURCE_EXHAUSTED. Default 100,000.
  size_t max_waiting_acquires = 100000;
  // WatchSweep streams open at once at most (each holds a thread while it waits); more
  // are answered RESOURCE_EXHAUSTED. Default 200.
  int max_watches = 200;
  // Threads that serve all waiting AcquireJob calls (each holds at most one database
  // connection at a time). Default 16, the pool's size: a hand-out is mostly waiting
  // on PostgreSQL, and with 4 the hand-outs of 100 workers queued behind each other
  // (bench/coordinator/run.sh: 14.9 grants/s, AcquireJob p50 5.2 s).
  int acquire_threads = 16;
  // Serve Prometheus metrics at http://ADDRESS/metrics (port 0 picks one). Default ""
  // = off.
  std::string metrics_listen;
  // Serve the read-only web dashboard, its JSON API and /metrics at http://ADDRESS/
  // (server/http/dashboard.h; port 0 picks one). Plain HTTP: a non-loopback address
  // needs insecure_listen, as a plaintext gRPC one does (the page sends bearer tokens).
  // Default "" = off.
  std::string http_listen;
  // Time source of leases and timestamps. Default nullptr = the real clock. Not owned.
  scheduling::Clock* clock = nullptr;
};

// OK when `options` may serve on options.listen: with TLS, on a loopback address, or
// with insecure_listen. Otherwise INVALID_ARGUMENT naming --tls-cert/--tls-key and
// --insecure-listen. Create calls it; exposed for tests.
absl::Status CheckListenSecurity(const CoordinatorOptions& options);

// The database URI rib-coordinator uses: `flag` (--database) when set, else the first
// line of the file at `file` (--database-file; surrounding whitespace trimmed, e.g. a
// mounted Kubernetes Secret), else `env` (the value of $RIB_DATABASE_URL). Keeping the
// password out of the command line keeps it out of `ps`. INVALID_ARGUMENT when --database
// and --database-file are both given, when the file cannot be read or is empty, and when
// none of the three is set (naming all three).
absl::StatusOr<std::string> ResolveDatabaseUri(const std::string& flag,
                                               const std::string& file,
                                               const std::string& env);

// Whether the host of a gRPC listen address (HOST:PORT, [V6]:PORT, ipv4:/ipv6: URIs)
// is a loopback one; unix: sockets count as local. An empty host or 0.0.0.0 / [::]
// (every interface) is not.
bool IsLoopbackListenAddress(const std::string& listen);

// Applies options.migrations to options.database_uri (all pending ones, under an
// advisory lock), retrying an unreachable database for options.connect_timeout.
// Create calls it; so does `rib-coordinator token create`.
absl::Status MigrateDatabase(const CoordinatorOptions& options);

class Coordinator {
 public:
  // Reads the TLS files, applies migrations and connects (repository, change
  // notifier); serves nothing yet. INVALID_ARGUMENT for bad options (a plaintext
  // non-loopback listen address, a TLS file that does not parse, naming it);
  // NOT_FOUND naming a TLS file that cannot be read; UNAVAILABLE when the database
  // cannot be reached within connect_timeout; the migration's error otherwise.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Create(CoordinatorOptions options);
  // Shuts down (see Shutdown) if still running.
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Starts the gRPC server (client and worker API, health checking, reflection), the
  // metrics and dashboard servers and the background loops. UNAVAILABLE when the address
  // cannot be bound; FAILED_PRECONDITION when already started.
  absl::Status Start();
  // Stops accepting calls, gives in-flight calls up to `grace`, then ends every wait
  // on the database (calls still waiting answer UNAVAILABLE) and stops the loops:
  // returns within about grace + connect_timeout even while the database is
  // unreachable. Idempotent and final: the coordinator cannot be started again.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

  // The bound gRPC port (after Start), the metrics and the dashboard port (0 when off).
  int port() const;
  int metrics_port() const;
  int http_port() const;
  // The host part of options.listen, for "listening on HOST:PORT".
  std::string host() const;

 private:
  explicit Coordinator(CoordinatorOptions options);
  // Start's way out when a server after the gRPC one cannot start: stops those started
  // (so Start may fail cleanly) and returns `why`.
  absl::Status AbandonStart(absl::Status why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const CoordinatorOptions options_;
  // TLS or plaintext, from the options' files (read once, at Create).
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  std::unique_ptr<storage::PostgresRepository> repo_;
  std::unique_ptr<storage::PgChangeNotifier> changes_;
  // Declared before the services and servers that observe into it.
  std::unique_ptr<service::CoordinatorMetrics> observed_;
  std::unique_ptr<service::SweepService> sweeps_;
  std::unique_ptr<service::WorkerService> workers_;
  std::unique_ptr<service::IdentityService> identity_;
  std::unique_ptr<rpc::Authz> authz_;
  std::unique_ptr<rpc::CoordinatorService> coordinator_api_;
  std::unique_ptr<rpc::WorkerApiService> worker_api_;
  std::unique_ptr<rpc::DashboardApi> dashboard_api_;
  std::unique_ptr<http::Dashboard> dashboard_;

  mutable absl::Mutex mu_;
  std::unique_ptr<grpc::Server> server_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<MetricsHttpServer> metrics_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<HttpServer> http_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<service::LeaseExpirer> expirer_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<service::EventPruner> pruner_ ABSL_GUARDED_BY(mu_);
  int port_ ABSL_GUARDED_BY(mu_) = 0;
  int metrics_port_ ABSL_GUARDED_BY(mu_) = 0;
  int http_port_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rib

#endif  // RIB_SERVER_COORDINATOR_H_
