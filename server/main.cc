// rib-coordinator: stores sweeps and jobs in PostgreSQL and serves the client API
// (rib.v1.Coordinator) and the worker API (rib.v1.WorkerApi) over gRPC.
//
//   rib-coordinator --database=postgresql://rib@localhost/rib --listen=0.0.0.0:7070
//
// At start it applies pending schema migrations (under an advisory lock), then prints
// "listening on HOST:PORT" once the server accepts calls. SIGTERM/SIGINT shut it down
// cleanly (in-flight calls get up to 5 s).
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/metrics_http.h"
#include "common/program.h"
#include "server/rpc/coordinator_service.h"
#include "server/rpc/worker_api_service.h"
#include "server/service/event_pruner.h"
#include "server/service/pool_metrics.h"
#include "server/service/sweep_service.h"
#include "server/service/worker_service.h"
#include "server/storage/postgres/migrations.h"
#include "server/storage/postgres/postgres_repository.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070",
          "address to serve gRPC on, HOST:PORT; port 0 picks a free port");
ABSL_FLAG(std::string, database, "",
          "libpq URI of the PostgreSQL database, e.g. postgresql://rib@localhost/rib");
ABSL_FLAG(std::string, artifact_root, ".",
          "folder that model weight paths in sweep files are relative to");
ABSL_FLAG(absl::Duration, lease_timeout, absl::Seconds(30),
          "a job lease not renewed by a heartbeat within this long expires");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(10),
          "heartbeat interval told to workers (keep it well below --lease_timeout)");
ABSL_FLAG(absl::Duration, sweep_interval, absl::Seconds(1),
          "how often expired leases are looked for");
ABSL_FLAG(
    absl::Duration, progress_event_retention, absl::Hours(24 * 7),
    "progress events of finished jobs older than this are deleted (state and result "
    "events are kept); inf keeps them all");
ABSL_FLAG(absl::Duration, prune_interval, absl::Minutes(10),
          "how often old progress events are looked for");
ABSL_FLAG(
    std::string, metrics_listen, "",
    "serve Prometheus metrics (jobs and workers by state) at http://ADDRESS/metrics, "
    "e.g. 0.0.0.0:9090 (port 0 picks one); empty = off");
ABSL_FLAG(std::string, migrations, "",
          "folder of NNNN_*.sql migrations; empty = the copy compiled into the binary");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(30),
          "keep retrying an unreachable database this long at start (PostgreSQL may "
          "still be starting)");
ABSL_FLAG(int, pool_size, 16, "PostgreSQL connections in the pool");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");

namespace {

const rib::ProgramHelp kHelp = {
    "rib-coordinator",
    "--database URI [--listen HOST:PORT] [--artifact-root DIR] [flags]",
    "The ImageNet-RIB sweep coordinator. Keeps every sweep, job, attempt and result in\n"
    "PostgreSQL (applying pending schema migrations at start), serves the client API\n"
    "(rib.v1.Coordinator) and the worker API (rib.v1.WorkerApi) over gRPC, hands jobs\n"
    "to workers under fenced leases, and re-queues jobs whose lease expires. Any\n"
    "number of coordinators may share one database. Prints \"listening on HOST:PORT\"\n"
    "once it accepts calls; SIGTERM or SIGINT shuts it down cleanly.",
    {"rib-coordinator --database=postgresql://rib@localhost:5432/rib "
     "--listen=0.0.0.0:7070 --artifact-root=/shared/rib"}};

int Fail(const std::string& message) {
  RIB_LOG(ERROR) << message;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  rib::ParseFlagsOrExit(kHelp, argc, argv);
  rib::SetLogTag("coordinator");
  rib::LogLevel level;
  if (!rib::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::cerr << "unknown --log-level '" << absl::GetFlag(FLAGS_log_level)
              << "' (expected debug, info, warning or error)\n";
    return 2;
  }
  rib::SetLogLevel(level);
  const std::string database = absl::GetFlag(FLAGS_database);
  if (database.empty()) {
    std::cerr << "--database is required (a libpq URI such as "
                 "postgresql://rib@localhost:5432/rib)\n";
    return 2;
  }
  const absl::Duration lease_timeout = absl::GetFlag(FLAGS_lease_timeout);
  if (lease_timeout <= absl::ZeroDuration()) {
    std::cerr << "--lease-timeout must be positive\n";
    return 2;
  }

  // Block the shutdown signals in every thread; main() waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  namespace pg = rib::storage::pg;
  std::vector<pg::Migration> migrations = pg::EmbeddedMigrations();
  if (!absl::GetFlag(FLAGS_migrations).empty()) {
    auto loaded = pg::LoadMigrations(absl::GetFlag(FLAGS_migrations));
    if (!loaded.ok()) return Fail(loaded.status().ToString());
    migrations = *std::move(loaded);
  }
  const absl::Time connect_deadline = absl::Now() + absl::GetFlag(FLAGS_connect_timeout);
  auto applied = pg::ApplyMigrations(database, migrations);
  while (absl::IsUnavailable(applied.status()) && absl::Now() < connect_deadline) {
    RIB_LOG(WARNING) << "database not reachable yet, retrying: " << applied.status();
    absl::SleepFor(absl::Seconds(1));
    applied = pg::ApplyMigrations(database, migrations);
  }
  if (!applied.ok())
    return Fail(absl::StrCat("migrations: ", applied.status().ToString()));
  RIB_LOG(INFO) << "schema current (" << *applied << " migrations applied now)";

  rib::storage::PostgresOptions pg_options;
  pg_options.uri = database;
  pg_options.pool_size = absl::GetFlag(FLAGS_pool_size);
  pg_options.repository.lease_timeout = lease_timeout;
  auto repo = rib::storage::PostgresRepository::Create(pg_options);
  if (!repo.ok()) return Fail(repo.status().ToString());

  rib::service::SweepServiceOptions sweep_options;
  sweep_options.artifact_root = absl::GetFlag(FLAGS_artifact_root);
  rib::service::SweepService sweeps(repo->get(), sweep_options);
  rib::service::WorkerServiceOptions worker_options;
  worker_options.lease_timeout = lease_timeout;
  worker_options.heartbeat_interval = absl::GetFlag(FLAGS_heartbeat_interval);
  rib::service::WorkerService workers(repo->get(), worker_options);
  rib::rpc::CoordinatorService coordinator_service(&sweeps, &workers);
  rib::rpc::WorkerApiService worker_api_service(&workers);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string listen = absl::GetFlag(FLAGS_listen);
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&coordinator_service);
  builder.RegisterService(&worker_api_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0)
    return Fail(absl::StrCat("cannot listen on ", listen));
  auto sweeper = std::make_unique<rib::service::LeaseSweeper>(
      repo->get(), absl::GetFlag(FLAGS_sweep_interval));
  std::unique_ptr<rib::service::EventPruner> pruner;
  if (absl::GetFlag(FLAGS_progress_event_retention) != absl::InfiniteDuration()) {
    pruner = std::make_unique<rib::service::EventPruner>(
        repo->get(), absl::GetFlag(FLAGS_progress_event_retention),
        absl::GetFlag(FLAGS_prune_interval));
  }

  const std::string host = listen.substr(0, listen.rfind(':'));
  std::cout << "listening on " << host << ":" << port << std::endl;

  std::unique_ptr<rib::MetricsHttpServer> metrics_server;
  if (const std::string metrics = absl::GetFlag(FLAGS_metrics_listen); !metrics.empty()) {
    auto started = rib::MetricsHttpServer::Start(
        metrics, {std::make_shared<rib::service::PoolMetrics>(repo->get())});
    if (!started.ok()) return Fail(started.status().ToString());
    metrics_server = *std::move(started);
    std::cout << "metrics on " << metrics.substr(0, metrics.rfind(':')) << ":"
              << metrics_server->port() << std::endl;
  }
  RIB_LOG(INFO) << "serving on " << host << ":" << port;

  int sig = 0;
  sigwait(&signals, &sig);
  RIB_LOG(INFO) << "signal " << sig << ": shutting down";
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  metrics_server.reset();
  pruner.reset();
  sweeper.reset();
  server->Wait();
  RIB_LOG(INFO) << "stopped";
  return 0;
}
