#include "server/coordinator.h"

#include <arpa/inet.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/metrics_http.h"
#include "common/status_macros.h"
#include "proto/tls/credentials.h"
#include "server/http/dashboard.h"
#include "server/rpc/authz.h"
#include "server/rpc/coordinator_service.h"
#include "server/rpc/dashboard_api.h"
#include "server/rpc/rpc_timing.h"
#include "server/rpc/worker_api_service.h"
#include "server/service/coordinator_metrics.h"
#include "server/service/event_pruner.h"
#include "server/service/identity_service.h"
#include "server/service/lease_expirer.h"
#include "server/service/pool_metrics.h"
#include "server/service/sweep_service.h"
#include "server/service/worker_service.h"
#include "server/storage/postgres/pg_change_notifier.h"
#include "server/storage/postgres/postgres_repository.h"

namespace rib {
namespace {

tls::ServerTlsOptions TlsOptions(const CoordinatorOptions& o) {
  tls::ServerTlsOptions t;
  t.cert_file = o.tls_cert_file;
  t.key_file = o.tls_key_file;
  t.client_ca_file = o.tls_client_ca_file;
  return t;
}

}  // namespace

bool IsLoopbackListenAddress(const std::string& listen) {
  absl::string_view address = listen;
  if (absl::StartsWith(address, "unix:") || absl::StartsWith(address, "unix-abstract:")) {
    return true;
  }
  if (!absl::ConsumePrefix(&address, "ipv4:")) absl::ConsumePrefix(&address, "ipv6:");
  std::string host;
  if (absl::StartsWith(address, "[")) {
    const size_t end = address.find(']');
    if (end == absl::string_view::npos) return false;
    host = std::string(address.substr(1, end - 1));
  } else {
    host = std::string(address.substr(0, address.rfind(':')));
  }
  if (absl::AsciiStrToLower(host) == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;  // ::ffff:127.x.y.z
  }
  return false;
}

absl::Status CheckListenSecurity(const CoordinatorOptions& options) {
  if (!options.http_listen.empty() && !options.insecure_listen &&
      !IsLoopbackListenAddress(options.http_listen)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http-listen=", options.http_listen,
        " is not a loopback address: the dashboard is plain HTTP and its pages send "
        "bearer tokens; serve it on loopback behind a TLS proxy, or pass "
        "--insecure-listen to serve it on that address anyway"));
  }
  if (TlsOptions(options).enabled() || options.insecure_listen ||
      IsLoopbackListenAddress(options.listen)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--listen=", options.listen,
      " is not a loopback address and no TLS certificate is given: serve TLS with "
      "--tls-cert and --tls-key, or pass --insecure-listen to serve plaintext on it "
      "anyway"));
}

absl::StatusOr<std::string> ResolveDatabaseUri(const std::string& flag,
                                               const std::string& file,
                                               const std::string& env) {
  if (!flag.empty() && !file.empty()) {
    return absl::InvalidArgumentError(
        "--database and --database-file are both given: pass one");
  }
  if (!flag.empty()) return flag;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("--database-file=", file, ": cannot read it"));
    }
    std::string line;
    std::getline(in, line);
    const std::string uri(absl::StripAsciiWhitespace(line));
    if (uri.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--database-file=", file, ": the first line is empty (expected a libpq URI)"));
    }
    return uri;
  }
  if (!env.empty()) return env;
  return absl::InvalidArgumentError(
      "--database is required (a libpq URI such as postgresql://rib@localhost:5432/rib); "
      "or give it in a file with --database-file, or in $RIB_DATABASE_URL");
}

absl::Status MigrateDatabase(const CoordinatorOptions& options) {
  const absl::Time deadline = absl::Now() + options.connect_timeout;
  absl::StatusOr<int> applied = storage::pg::ApplyMigrations(
      options.database_uri, options.migrations, options.database_connection);
  while (absl::IsUnavailable(applied.status()) && absl::Now() < deadline) {
    RIB_LOG(WARNING) << "database not reachable yet, retrying: " << applied.status();
    absl::SleepFor(absl::Seconds(1));
    applied = storage::pg::ApplyMigrations(options.database_uri, options.migrations,
                                           options.database_connection);
  }
  if (!applied.ok()) {
    return absl::Status(applied.status().code(),
                        absl::StrCat("migrations: ", applied.status().message()));
  }
  RIB_LOG(INFO) << "schema current (" << *applied << " migrations applied now)";
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(
    CoordinatorOptions options) {
  if (options.database_uri.empty()) {
    return absl::InvalidArgumentError("the coordinator needs a database URI");
  }
  if (options.lease_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the lease timeout must be positive");
  }
  RIB_RETURN_IF_ERROR(CheckListenSecurity(options));
  RIB_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                       tls::MakeServerCredentials(TlsOptions(options)));
  RIB_RETURN_IF_ERROR(MigrateDatabase(options));

  std::unique_ptr<Coordinator> c(new Coordinator(std::move(options)));
  const CoordinatorOptions& o = c->options_;
  c->credentials_ = std::move(credentials);
  storage::PostgresOptions pg;
  pg.uri = o.database_uri;
  pg.pool_size = o.pool_size;
  pg.acquire_timeout = o.database_acquire_timeout;
  pg.connection = o.database_connection;
  pg.repository.clock = o.clock;
  pg.repository.lease_timeout = o.lease_timeout;
  // A gap of five missed passes (at least 5 s) means the control plane was down.
  pg.repository.expiry_grace_after =
      std::max(absl::Seconds(5), 5 * o.lease_expiry_interval);
  RIB_ASSIGN_OR_RETURN(c->repo_, storage::PostgresRepository::Create(pg));
  RIB_ASSIGN_OR_RETURN(c->changes_, storage::PgChangeNotifier::Create(
                                        o.database_uri, o.database_connection));

  c->observed_ = std::make_unique<service::CoordinatorMetrics>();
  service::SweepServiceOptions sweep_options;
  sweep_options.artifact_root = o.artifact_root;
  sweep_options.allow_torchscript = o.allow_torchscript;
  sweep_options.hf_cache = o.hf_cache;
  sweep_options.watch_poll = o.poll;
  sweep_options.max_jobs_per_sweep = o.max_jobs_per_sweep;
  sweep_options.max_priority = o.max_sweep_priority;
  sweep_options.max_watches = o.max_watches;
  c->sweeps_ = std::make_unique<service::SweepService>(c->repo_.get(), c->changes_.get(),
                                                       sweep_options);
  service::WorkerServiceOptions worker_options;
  worker_options.lease_timeout = o.lease_timeout;
  worker_options.heartbeat_interval = o.heartbeat_interval;
  worker_options.poll = o.poll;
  worker_options.max_waiting_acquires = o.max_waiting_acquires;
  worker_options.acquire_threads = o.acquire_threads;
  worker_options.metrics = c->observed_.get();
  c->workers_ = std::make_unique<service::WorkerService>(
      c->repo_.get(), c->changes_.get(), worker_options);
  c->identity_ =
      std::make_unique<service::IdentityService>(c->repo_.get(), c->changes_.get());
  c->authz_ = std::make_unique<rpc::Authz>(c->identity_.get());
  c->coordinator_api_ = std::make_unique<rpc::CoordinatorService>(
      c->sweeps_.get(), c->workers_.get(), c->identity_.get(), c->authz_.get());
  c->worker_api_ =
      std::make_unique<rpc::WorkerApiService>(c->workers_.get(), c->authz_.get());
  c->dashboard_api_ = std::make_unique<rpc::DashboardApi>(
      c->sweeps_.get(), c->workers_.get(), c->identity_.get());
  c->dashboard_ = std::make_unique<http::Dashboard>(
      c->dashboard_api_.get(),
      Collectables{std::make_shared<service::PoolMetrics>(c->repo_.get()),
                   c->observed_->collectable()});
  return c;
}

Coordinator::Coordinator(CoordinatorOptions options) : options_(std::move(options)) {}

Coordinator::~Coordinator() { Shutdown(absl::ZeroDuration()); }

absl::Status Coordinator::Start() {
  absl::MutexLock l(&mu_);
  if (server_ != nullptr) return absl::FailedPreconditionError("already started");
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, credentials_, &port_);
  tls::AddServerKeepalive(&builder);
  builder.RegisterService(coordinator_api_.get());
  builder.RegisterService(worker_api_.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      timing;
  timing.push_back(rpc::RpcTimingFactory(observed_.get()));
  builder.experimental().SetInterceptorCreators(std::move(timing));
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.listen));
  }
  if (!options_.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> started = MetricsHttpServer::Start(
        options_.metrics_listen,
        {std::make_shared<service::PoolMetrics>(repo_.get()), observed_->collectable()});
    if (!started.ok()) return AbandonStart(started.status());
    metrics_ = *std::move(started);
    metrics_port_ = metrics_->port();
  }
  if (!options_.http_listen.empty()) {
    const http::Dashboard* dashboard = dashboard_.get();
    absl::StatusOr<std::unique_ptr<HttpServer>> started = HttpServer::Start(
        options_.http_listen,
        [dashboard](const HttpRequest& req) { return dashboard->Handle(req); },
        HttpServerOptions{}, "the dashboard");
    if (!started.ok()) return AbandonStart(started.status());
    http_ = *std::move(started);
    http_port_ = http_->port();
  }
  expirer_ = std::make_unique<service::LeaseExpirer>(repo_.get(),
                                                     options_.lease_expiry_interval);
  if (options_.progress_event_retention != absl::InfiniteDuration()) {
    pruner_ = std::make_unique<service::EventPruner>(
        repo_.get(), options_.progress_event_retention, options_.prune_interval,
        options_.clock != nullptr ? options_.clock : scheduling::Clock::Real());
  }
  const tls::ServerTlsOptions tls = TlsOptions(options_);
  if (tls.enabled()) {
    RIB_LOG(INFO) << "serving TLS on " << host() << ":" << port_
                  << (tls.client_ca_file.empty() ? ""
                                                 : " (client certificates required)");
  } else if (!IsLoopbackListenAddress(options_.listen)) {
    RIB_LOG(WARNING) << "serving PLAINTEXT on " << host() << ":" << port_
                     << " (--insecure-listen): anyone on the network can read and send "
                        "this traffic; give --tls-cert and --tls-key to serve TLS";
  } else {
    RIB_LOG(INFO) << "serving on " << host() << ":" << port_ << " (plaintext, loopback)";
  }
  return absl::OkStatus();
}

absl::Status Coordinator::AbandonStart(absl::Status why) {
  metrics_.reset();
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
  server_.reset();
  return why;
}

void Coordinator::Shutdown(absl::Duration grace) {
  absl::MutexLock l(&mu_);
  if (server_ != nullptr) {
    // grpc::Server::Shutdown returns only when every handler has. One stuck on an
    // unreachable database (a statement on a silent connection) is released when the
    // grace is over by closing the pool under it, so the shutdown ends in seconds.
    absl::Notification stopped;
    std::thread release([&] {
      if (!stopped.WaitForNotificationWithTimeout(grace)) repo_->Close();
    });
    server_->Shutdown(std::chrono::system_clock::now() +
                      absl::ToChronoMilliseconds(grace));
    stopped.Notify();
    release.join();
  }
  // No call is served any more; the loops must not wait on the database either.
  if (repo_ != nullptr) repo_->Close();
  metrics_.reset();
  http_.reset();
  pruner_.reset();
  expirer_.reset();
  if (server_ != nullptr) {
    server_->Wait();
    server_.reset();
    RIB_LOG(INFO) << "stopped";
  }
}

int Coordinator::port() const {
  absl::MutexLock l(&mu_);
  return port_;
}

int Coordinator::metrics_port() const {
  absl::MutexLock l(&mu_);
  return metrics_port_;
}

int Coordinator::http_port() const {
  absl::MutexLock l(&mu_);
  return http_port_;
}

std::string Coordinator::host() const {
  return options_.listen.substr(0, options_.listen.rfind(':'));
}

}  // namespace rib
