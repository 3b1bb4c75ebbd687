#include "server/coordinator.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/metrics_http.h"
#include "common/status_macros.h"
#include "server/rpc/coordinator_service.h"
#include "server/rpc/worker_api_service.h"
#include "server/service/event_pruner.h"
#include "server/service/lease_expirer.h"
#include "server/service/pool_metrics.h"
#include "server/service/sweep_service.h"
#include "server/service/worker_service.h"
#include "server/storage/postgres/pg_change_notifier.h"
#include "server/storage/postgres/postgres_repository.h"

namespace rib {

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(
    CoordinatorOptions options) {
  if (options.database_uri.empty()) {
    return absl::InvalidArgumentError("the coordinator needs a database URI");
  }
  if (options.lease_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the lease timeout must be positive");
  }
  const absl::Time deadline = absl::Now() + options.connect_timeout;
  absl::StatusOr<int> applied =
      storage::pg::ApplyMigrations(options.database_uri, options.migrations);
  while (absl::IsUnavailable(applied.status()) && absl::Now() < deadline) {
    RIB_LOG(WARNING) << "database not reachable yet, retrying: " << applied.status();
    absl::SleepFor(absl::Seconds(1));
    applied = storage::pg::ApplyMigrations(options.database_uri, options.migrations);
  }
  if (!applied.ok()) {
    return absl::Status(applied.status().code(),
                        absl::StrCat("migrations: ", applied.status().message()));
  }
  RIB_LOG(INFO) << "schema current (" << *applied << " migrations applied now)";

  std::unique_ptr<Coordinator> c(new Coordinator(std::move(options)));
  const CoordinatorOptions& o = c->options_;
  storage::PostgresOptions pg;
  pg.uri = o.database_uri;
  pg.pool_size = o.pool_size;
  pg.repository.clock = o.clock;
  pg.repository.lease_timeout = o.lease_timeout;
  RIB_ASSIGN_OR_RETURN(c->repo_, storage::PostgresRepository::Create(pg));
  RIB_ASSIGN_OR_RETURN(c->changes_, storage::PgChangeNotifier::Create(o.database_uri));

  service::SweepServiceOptions sweep_options;
  sweep_options.artifact_root = o.artifact_root;
  sweep_options.allow_torchscript = o.allow_torchscript;
  sweep_options.watch_poll = o.poll;
  c->sweeps_ = std::make_unique<service::SweepService>(c->repo_.get(), c->changes_.get(),
                                                       sweep_options);
  service::WorkerServiceOptions worker_options;
  worker_options.lease_timeout = o.lease_timeout;
  worker_options.heartbeat_interval = o.heartbeat_interval;
  worker_options.poll = o.poll;
  c->workers_ = std::make_unique<service::WorkerService>(
      c->repo_.get(), c->changes_.get(), worker_options);
  c->coordinator_api_ =
      std::make_unique<rpc::CoordinatorService>(c->sweeps_.get(), c->workers_.get());
  c->worker_api_ = std::make_unique<rpc::WorkerApiService>(c->workers_.get());
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
  builder.AddListeningPort(options_.listen, grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(coordinator_api_.get());
  builder.RegisterService(worker_api_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.listen));
  }
  if (!options_.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> started = MetricsHttpServer::Start(
        options_.metrics_listen, {std::make_shared<service::PoolMetrics>(repo_.get())});
    if (!started.ok()) {
      server_->Shutdown(std::chrono::system_clock::now());
      server_->Wait();
      server_.reset();
      return started.status();
    }
    metrics_ = *std::move(started);
    metrics_port_ = metrics_->port();
  }
  expirer_ = std::make_unique<service::LeaseExpirer>(repo_.get(),
                                                     options_.lease_expiry_interval);
  if (options_.progress_event_retention != absl::InfiniteDuration()) {
    pruner_ = std::make_unique<service::EventPruner>(
        repo_.get(), options_.progress_event_retention, options_.prune_interval,
        options_.clock != nullptr ? options_.clock : scheduling::Clock::Real());
  }
  RIB_LOG(INFO) << "serving on " << host() << ":" << port_;
  return absl::OkStatus();
}

void Coordinator::Shutdown(absl::Duration grace) {
  absl::MutexLock l(&mu_);
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      absl::ToChronoMilliseconds(grace));
  }
  metrics_.reset();
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

std::string Coordinator::host() const {
  return options_.listen.substr(0, options_.listen.rfind(':'));
}

}  // namespace rib
