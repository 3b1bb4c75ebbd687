// rib-coordinator: stores sweeps and jobs in PostgreSQL and serves the client API
// (rib.v1.Coordinator) and the worker API (rib.v1.WorkerApi) over gRPC.
//
//   rib-coordinator --database=postgresql://rib@localhost/rib --listen=0.0.0.0:7070 \
//       --tls-cert=coord.pem --tls-key=coord.key
//
// At start it applies pending schema migrations (under an advisory lock), then prints
// "listening on HOST:PORT" once the server accepts calls. SIGTERM/SIGINT shut it down
// cleanly (in-flight calls get up to 5 s).
//
// The first admin token (every call needs a token) is made on the database directly:
//
//   rib-coordinator token create --database=URI --user=alice --role=admin
//
// prints the token once, on stdout; further tokens are made over the API (rib token).
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/program.h"
#include "server/coordinator.h"
#include "server/domain/types.h"
#include "server/service/identity_service.h"
#include "server/storage/postgres/migrations.h"
#include "server/storage/postgres/postgres_repository.h"
#include "spec/hf_hub.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070",
          "address to serve gRPC on, HOST:PORT; port 0 picks a free port. Without "
          "--tls-cert it must be a loopback address unless --insecure-listen is given");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM file of the server certificate (chain): serve TLS (with --tls-key)");
ABSL_FLAG(std::string, tls_key, "", "PEM file of the private key of --tls-cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM file of the CA that signs client (worker) certificates: every client "
          "must present a certificate it signed; empty = none asked for");
ABSL_FLAG(bool, insecure_listen, false,
          "serve plaintext gRPC on a non-loopback --listen address (a trusted network, "
          "or TLS terminated in front); logs a warning");
ABSL_FLAG(std::string, database, "",
          "libpq URI of the PostgreSQL database, e.g. postgresql://rib@localhost/rib; "
          "empty = --database-file, else $RIB_DATABASE_URL");
ABSL_FLAG(std::string, database_file, "",
          "a file whose first line is the database URI (e.g. a mounted Secret), so the "
          "password is not on the command line");
ABSL_FLAG(std::string, artifact_root, ".",
          "folder that model weight paths in sweep files are relative to");
ABSL_FLAG(std::string, hf_cache, "",
          "Hugging Face hub cache that `weights: hf-hub:ORG/NAME[@REV]` is resolved in "
          "(never downloaded; workers read the snapshot under <artifact root>/hf-hub/); "
          "default $HF_HOME/hub, else ~/.cache/huggingface/hub");
ABSL_FLAG(int64_t, max_jobs_per_sweep, 20000,
          "a sweep that expands to more jobs is refused at submit");
ABSL_FLAG(int64_t, max_waiting_acquires, 100000,
          "AcquireJob long-polls waiting at once at most (they hold no thread); more are "
          "answered RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_watches, 200,
          "WatchSweep streams open at once at most (each holds a thread while it waits); "
          "more are answered RESOURCE_EXHAUSTED");
ABSL_FLAG(int, acquire_threads, 16,
          "threads that serve every waiting AcquireJob long-poll (each uses at most one "
          "database connection at a time)");
ABSL_FLAG(int, max_sweep_priority, 10,
          "highest priority a sweep may ask for (priority outranks fair share)");
ABSL_FLAG(
    bool, allow_torchscript, false,
    "accept sweeps with TorchScript models (code that workers run: trusted users only)");
ABSL_FLAG(absl::Duration, lease_timeout, absl::Seconds(30),
          "a job lease not renewed by a heartbeat within this long expires");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(10),
          "heartbeat interval told to workers (keep it well below --lease_timeout)");
ABSL_FLAG(absl::Duration, lease_expiry_interval, absl::Seconds(1),
          "how often expired leases are looked for");
// Deprecated alias of --lease_expiry_interval (its old name, which said "sweep" for
// lease expiry); kept so existing command lines keep working.
ABSL_FLAG(absl::Duration, sweep_interval, absl::ZeroDuration(),
          "deprecated alias of --lease-expiry-interval (0 = not given)");
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
ABSL_FLAG(
    std::string, http_listen, "",
    "serve the read-only web dashboard (pool, sweeps, live matrices; log in with a "
    "token), its JSON API and /metrics at http://ADDRESS/, e.g. 127.0.0.1:8080 (port 0 "
    "picks one; a non-loopback address needs --insecure-listen); empty = off");
ABSL_FLAG(std::string, migrations, "",
          "folder of NNNN_*.sql migrations; empty = the copy compiled into the binary");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(30),
          "keep retrying an unreachable database this long at start (PostgreSQL may "
          "still be starting)");
ABSL_FLAG(int, pool_size, 16, "PostgreSQL connections in the pool");
ABSL_FLAG(absl::Duration, db_acquire_timeout, absl::Seconds(10),
          "a call that finds every pooled database connection busy this long answers "
          "UNAVAILABLE");
ABSL_FLAG(absl::Duration, db_connect_timeout,
          rib::storage::pg::ConnectionOptions().connect_timeout,
          "libpq connect_timeout of each database connection (whole seconds, at least "
          "1; libpq waits at least 2); a URI's own connect_timeout wins");
ABSL_FLAG(absl::Duration, db_statement_timeout,
          rib::storage::pg::ConnectionOptions().statement_timeout,
          "server-side statement_timeout of the coordinator's database connections (not "
          "of migrations); 0 = none; a URI's own options=-c statement_timeout wins");
ABSL_FLAG(absl::Duration, db_keepalives_idle,
          rib::storage::pg::ConnectionOptions().keepalives_idle,
          "TCP keepalive idle time of database connections (probes follow every 5 s, "
          "3 of them); a URI's own keepalives_idle wins");
ABSL_FLAG(std::string, user, "", "`token create`: the user the token is for");
ABSL_FLAG(std::string, role, "admin", "`token create`: user, admin or worker");

namespace {

const rib::ProgramHelp kHelp = {
    "rib-coordinator",
    "--database URI [--listen HOST:PORT] [--tls-cert PEM --tls-key PEM] "
    "[--artifact-root DIR] [flags]\n"
    "       rib-coordinator token create --database URI --user NAME [--role ROLE]",
    "The ImageNet-RIB sweep coordinator. Keeps every sweep, job, attempt and result in\n"
    "PostgreSQL (applying pending schema migrations at start), serves the client API\n"
    "(rib.v1.Coordinator) and the worker API (rib.v1.WorkerApi) over gRPC, hands jobs\n"
    "to workers under fenced leases, and re-queues jobs whose lease expires. Any\n"
    "number of coordinators may share one database. Prints \"listening on HOST:PORT\"\n"
    "once it accepts calls; SIGTERM or SIGINT shuts it down cleanly.\n"
    "Every call needs a bearer token. `token create` makes one directly in the\n"
    "database (the first admin's, before any exists) and prints it once; admins make\n"
    "the others with `rib token create`.",
    {"rib-coordinator --database=postgresql://rib@localhost:5432/rib "
     "--listen=0.0.0.0:7070 --tls-cert=coord.pem --tls-key=coord.key "
     "--artifact-root=/shared/rib",
     "rib-coordinator token create --database=postgresql://rib@localhost:5432/rib "
     "--user=alice --role=admin"},
    true};

int Fail(const std::string& message) {
  RIB_LOG(ERROR) << message;
  return 1;
}

// The --db-* flags.
rib::storage::pg::ConnectionOptions DatabaseConnection() {
  rib::storage::pg::ConnectionOptions c;
  c.connect_timeout = absl::GetFlag(FLAGS_db_connect_timeout);
  c.statement_timeout = absl::GetFlag(FLAGS_db_statement_timeout);
  c.keepalives_idle = absl::GetFlag(FLAGS_db_keepalives_idle);
  c.tcp_user_timeout = c.keepalives_idle + c.keepalives_interval * c.keepalives_count;
  return c;
}

}  // namespace

// `rib-coordinator token create`: a token made on the database (migrated first), printed
// once on stdout. The bootstrap of the first admin, and of worker tokens for scripts.
int CreateToken(const std::string& database) {
  const std::string role_name = absl::GetFlag(FLAGS_role);
  std::optional<rib::domain::Role> role = rib::domain::ParseRole(role_name);
  if (!role) {
    std::cerr << "rib-coordinator: --role '" << role_name
              << "' is not user, admin or worker\n";
    return 2;
  }
  rib::CoordinatorOptions migrate;
  migrate.database_uri = database;
  migrate.connect_timeout = absl::GetFlag(FLAGS_connect_timeout);
  migrate.database_connection = DatabaseConnection();
  if (!absl::GetFlag(FLAGS_migrations).empty()) {
    auto loaded = rib::storage::pg::LoadMigrations(absl::GetFlag(FLAGS_migrations));
    if (!loaded.ok()) return Fail(loaded.status().ToString());
    migrate.migrations = *std::move(loaded);
  }
  if (absl::Status s = rib::MigrateDatabase(migrate); !s.ok()) return Fail(s.ToString());
  rib::storage::PostgresOptions options;
  options.uri = database;
  options.pool_size = 1;
  options.acquire_timeout = absl::GetFlag(FLAGS_db_acquire_timeout);
  options.connection = migrate.database_connection;
  auto repo = rib::storage::PostgresRepository::Create(options);
  if (!repo.ok()) return Fail(repo.status().ToString());
  rib::service::IdentityService identity(repo->get());
  auto made = identity.CreateToken(absl::GetFlag(FLAGS_user), *role, "rib-coordinator");
  if (!made.ok()) {
    std::cerr << "rib-coordinator: " << made.status().message() << "\n";
    return 2;
  }
  std::cout << made->token << std::endl;
  std::cerr << "token " << made->info.id << " for " << made->info.user << " (role "
            << role_name << "); it is shown only this once\n";
  return 0;
}

int main(int argc, char** argv) {
  const std::vector<std::string> args = rib::ParseFlagsOrExit(kHelp, argc, argv);
  rib::SetLogTag("coordinator");
  const bool token_create = args == std::vector<std::string>{"token", "create"};
  if (!args.empty() && !token_create) {
    std::cerr << "rib-coordinator: unknown command '" << absl::StrJoin(args, " ")
              << "' (the only one is `token create`)\n";
    return 2;
  }
  const char* env = std::getenv("RIB_DATABASE_URL");
  const absl::StatusOr<std::string> resolved = rib::ResolveDatabaseUri(
      absl::GetFlag(FLAGS_database), absl::GetFlag(FLAGS_database_file), env ? env : "");
  if (!resolved.ok()) {
    std::cerr << "rib-coordinator: " << resolved.status().message() << "\n";
    return 2;
  }
  const std::string& database = *resolved;
  if (token_create) return CreateToken(database);
  const absl::Duration lease_timeout = absl::GetFlag(FLAGS_lease_timeout);
  if (lease_timeout <= absl::ZeroDuration()) {
    std::cerr << "--lease-timeout must be positive\n";
    return 2;
  }

  rib::CoordinatorOptions options;
  options.database_uri = database;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.insecure_listen = absl::GetFlag(FLAGS_insecure_listen);
  options.artifact_root = absl::GetFlag(FLAGS_artifact_root);
  options.max_jobs_per_sweep = absl::GetFlag(FLAGS_max_jobs_per_sweep);
  if (absl::GetFlag(FLAGS_max_waiting_acquires) < 1 ||
      absl::GetFlag(FLAGS_acquire_threads) < 1 || absl::GetFlag(FLAGS_max_watches) < 1) {
    std::cerr << "rib-coordinator: --max-waiting-acquires, --acquire-threads and "
                 "--max-watches must be at least 1\n";
    return 2;
  }
  options.max_waiting_acquires =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_waiting_acquires));
  options.acquire_threads = absl::GetFlag(FLAGS_acquire_threads);
  options.max_watches = absl::GetFlag(FLAGS_max_watches);
  options.max_sweep_priority = absl::GetFlag(FLAGS_max_sweep_priority);
  options.allow_torchscript = absl::GetFlag(FLAGS_allow_torchscript);
  options.hf_cache = absl::GetFlag(FLAGS_hf_cache);
  if (options.hf_cache.empty()) {  // huggingface_hub's own default
    options.hf_cache =
        rib::spec::DefaultHubCacheDir(std::getenv("HF_HOME"), std::getenv("HOME"));
  }
  options.lease_timeout = lease_timeout;
  options.heartbeat_interval = absl::GetFlag(FLAGS_heartbeat_interval);
  options.lease_expiry_interval = absl::GetFlag(FLAGS_lease_expiry_interval);
  if (const absl::Duration old = absl::GetFlag(FLAGS_sweep_interval);
      old != absl::ZeroDuration()) {
    RIB_LOG(WARNING) << "--sweep-interval is deprecated; use --lease-expiry-interval";
    options.lease_expiry_interval = old;
  }
  options.progress_event_retention = absl::GetFlag(FLAGS_progress_event_retention);
  options.prune_interval = absl::GetFlag(FLAGS_prune_interval);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.http_listen = absl::GetFlag(FLAGS_http_listen);
  options.connect_timeout = absl::GetFlag(FLAGS_connect_timeout);
  options.pool_size = absl::GetFlag(FLAGS_pool_size);
  options.database_acquire_timeout = absl::GetFlag(FLAGS_db_acquire_timeout);
  options.database_connection = DatabaseConnection();
  if (absl::Status s = rib::CheckListenSecurity(options); !s.ok()) {
    std::cerr << "rib-coordinator: " << s.message() << "\n";
    return 2;
  }
  if (!absl::GetFlag(FLAGS_migrations).empty()) {
    auto loaded = rib::storage::pg::LoadMigrations(absl::GetFlag(FLAGS_migrations));
    if (!loaded.ok()) return Fail(loaded.status().ToString());
    options.migrations = *std::move(loaded);
  }

  // Block the shutdown signals in every thread; main() waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto coordinator = rib::Coordinator::Create(options);
  if (!coordinator.ok()) return Fail(coordinator.status().ToString());
  if (absl::Status s = (*coordinator)->Start(); !s.ok()) return Fail(s.ToString());
  std::cout << "listening on " << (*coordinator)->host() << ":" << (*coordinator)->port()
            << std::endl;
  if (!options.metrics_listen.empty()) {
    std::cout << "metrics on "
              << options.metrics_listen.substr(0, options.metrics_listen.rfind(':'))
              << ":" << (*coordinator)->metrics_port() << std::endl;
  }
  if (!options.http_listen.empty()) {
    std::cout << "dashboard on http://"
              << options.http_listen.substr(0, options.http_listen.rfind(':')) << ":"
              << (*coordinator)->http_port() << "/" << std::endl;
  }

  int sig = 0;
  sigwait(&signals, &sig);
  RIB_LOG(INFO) << "signal " << sig << ": shutting down";
  (*coordinator)->Shutdown(absl::Seconds(5));
  return 0;
}
