#include "tests/e2e/e2e_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "tests/testing/test_env.h"
#include "worker/data/fmnist_rib.h"
#include "worker/engine/model.h"
#include "worker/engine/weights.h"

namespace rib::e2e {
namespace fs = std::filesystem;

absl::StatusOr<std::unique_ptr<Child>> Child::Start(const std::vector<std::string>& argv,
                                                    const std::string& log) {
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", log));
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fd);
  return std::unique_ptr<Child>(new Child(pid, log));
}

Child::~Child() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

void Child::Signal(int sig) {
  if (!status_) ::kill(pid_, sig);
}

std::optional<int> Child::Wait(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (!status_) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (absl::Now() >= until) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return status_;
}

bool Child::running() { return !Wait(absl::ZeroDuration()).has_value(); }

std::string Child::ReadLog() const {
  std::ifstream f(log_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Binary(const std::string& name) {
  const char* dir = std::getenv("RIB_BINARY_DIR");
  return absl::StrCat(dir != nullptr ? dir : ".", "/bin/", name);
}

void SkipUnlessPostgres() {
  const char* admin = std::getenv("RIB_TEST_PG_ADMIN_URL");
  if (admin == nullptr || *admin == '\0') {
    std::fprintf(stderr, "RIB_TEST_PG_ADMIN_URL is not set: skipping the e2e tests\n");
    std::exit(rib::testing::kSkipExitCode);
  }
}

absl::StatusOr<std::unique_ptr<TestDatabase>> TestDatabase::Create() {
  const char* admin = std::getenv("RIB_TEST_PG_ADMIN_URL");
  if (admin == nullptr || *admin == '\0') return std::unique_ptr<TestDatabase>();
  return Create(std::string(admin));
}

absl::StatusOr<std::unique_ptr<TestDatabase>> TestDatabase::Create(
    const std::string& admin_url) {
  const char* admin = admin_url.c_str();
  auto db = std::unique_ptr<TestDatabase>(new TestDatabase());
  db->admin_url_ = admin;
  std::random_device rd;
  db->name_ = absl::StrCat("rib_e2e_", ::getpid(), "_", rd() % 1000000);
  const size_t slash = db->admin_url_.rfind('/');
  if (slash == std::string::npos || slash < 12) {
    return absl::InvalidArgumentError(
        absl::StrCat("RIB_TEST_PG_ADMIN_URL has no database part: ", admin));
  }
  const size_t query = db->admin_url_.find('?', slash);
  db->url_ = absl::StrCat(db->admin_url_.substr(0, slash + 1), db->name_,
                          query == std::string::npos ? "" : db->admin_url_.substr(query));
  try {
    pqxx::connection c(db->admin_url_);
    pqxx::nontransaction tx(c);
    tx.exec0(absl::StrCat("CREATE DATABASE \"", db->name_, "\""));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot create database: ", e.what()));
  }
  return db;
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection c(admin_url_);
    pqxx::nontransaction tx(c);
    tx.exec0(absl::StrCat("DROP DATABASE IF EXISTS \"", name_, "\" WITH (FORCE)"));
  } catch (const std::exception&) {
  }
}

absl::Status PrepareDataAndModel(const std::string& data_root,
                                 const std::string& weights_path) {
  fs::create_directories(data_root);
  RIB_RETURN_IF_ERROR(data::BuildFmnistRib(data_root, {}).status());
  fs::create_directories(fs::path(weights_path).parent_path());
  torch::manual_seed(0);
  RIB_ASSIGN_OR_RETURN(engine::Classifier model, engine::CreateModel("fmnist_vit", 10));
  return engine::SaveClassifier(model, weights_path);
}

namespace {
// `rib-coordinator token create` on the database: the token it prints.
absl::StatusOr<std::string> CreateToken(const std::string& database_url,
                                        const std::string& user, const std::string& role) {
  const std::string cmd =
      absl::StrCat(Binary("rib-coordinator"), " --database='", database_url,
                   "' --log-level=warning token create --user=", user, " --role=", role,
                   " 2>/dev/null");
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return absl::InternalError("popen failed");
  char line[256] = {0};
  const bool got = fgets(line, sizeof line, p) != nullptr;
  const int status = pclose(p);
  std::string token = got ? std::string(line) : "";
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (status != 0 || token.rfind("rib_", 0) != 0) {
    return absl::InternalError(absl::StrCat("`", cmd, "` failed (status ", status, ")"));
  }
  return token;
}
}  // namespace

namespace {
// rib-coordinator listening on `listen`; its address once it says it listens.
absl::StatusOr<std::string> LaunchCoordinator(const std::string& listen,
                                              const std::string& database_url,
                                              const std::string& artifact_root,
                                              const std::string& log,
                                              const std::vector<std::string>& extra_flags,
                                              std::unique_ptr<Child>* child) {
  std::vector<std::string> argv = {
      Binary("rib-coordinator"),
      absl::StrCat("--listen=", listen),
      absl::StrCat("--database=", database_url),
      absl::StrCat("--artifact_root=", artifact_root),
      absl::StrCat("--lease_timeout=", absl::FormatDuration(kLeaseTimeout)),
      absl::StrCat("--heartbeat_interval=", absl::FormatDuration(kHeartbeatInterval)),
      "--sweep_interval=200ms"};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  RIB_ASSIGN_OR_RETURN(*child, Child::Start(argv, log));
  const absl::Time until = absl::Now() + absl::Seconds(30);
  while (absl::Now() < until) {
    const std::string text = (*child)->ReadLog();
    const size_t at = text.find("listening on ");
    if (at != std::string::npos) {
      const size_t end = text.find('\n', at);
      if (end != std::string::npos) return text.substr(at + 13, end - at - 13);
    }
    if (!(*child)->running()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::UnavailableError(
      absl::StrCat("rib-coordinator did not start; its log:\n", (*child)->ReadLog()));
}
}  // namespace

absl::StatusOr<CoordinatorProcess> StartCoordinator(
    const std::string& database_url, const std::string& artifact_root,
    const std::string& log, const std::vector<std::string>& extra_flags) {
  CoordinatorProcess out;
  RIB_ASSIGN_OR_RETURN(out.address,
                       LaunchCoordinator("127.0.0.1:0", database_url, artifact_root, log,
                                         extra_flags, &out.child));
  RIB_ASSIGN_OR_RETURN(out.user_token, CreateToken(database_url, "e2e", "user"));
  RIB_ASSIGN_OR_RETURN(out.worker_token, CreateToken(database_url, "e2e-worker", "worker"));
  out.worker_token_file = (fs::path(log).parent_path() / "worker.token").string();
  {
    std::ofstream f(out.worker_token_file);
    f << out.worker_token << "\n";
  }
  fs::permissions(out.worker_token_file, fs::perms::owner_read | fs::perms::owner_write);
  return out;
}

absl::Status RestartCoordinator(CoordinatorProcess* c, const std::string& database_url,
                                const std::string& artifact_root, const std::string& log,
                                const std::vector<std::string>& extra_flags) {
  RIB_ASSIGN_OR_RETURN(std::string address,
                       LaunchCoordinator(c->address, database_url, artifact_root, log,
                                         extra_flags, &c->child));
  if (address != c->address) {
    return absl::InternalError(absl::StrCat("the coordinator came back on ", address,
                                            ", not on ", c->address));
  }
  return absl::OkStatus();
}

namespace {
// Runs `command` as the postgres user when we are root (initdb refuses root).
int RunAsPostgres(const std::string& command) {
  const std::string full =
      ::geteuid() == 0 ? absl::StrCat("runuser -u postgres -- ", command) : command;
  return std::system(full.c_str());
}
constexpr char kPgBin[] = "/usr/lib/postgresql/15/bin";
}  // namespace

absl::StatusOr<std::unique_ptr<PgCluster>> PgCluster::Start(const std::string& dir) {
  fs::create_directories(dir);
  if (::geteuid() == 0) {
    // The postgres user must reach the folder: own it, and let it traverse the parents.
    if (std::system(absl::StrCat("chown postgres:postgres '", dir, "'").c_str()) != 0) {
      return absl::InternalError(absl::StrCat("cannot chown ", dir, " to postgres"));
    }
    for (fs::path p = fs::path(dir).parent_path(); p != p.root_path(); p = p.parent_path()) {
      fs::permissions(p, fs::perms::others_exec, fs::perm_options::add);
    }
  }
  if (RunAsPostgres(absl::StrCat(kPgBin, "/initdb -D '", dir, "/data' -U postgres",
                                 " --auth=trust -E UTF8 --locale=C.UTF-8 >'", dir,
                                 "/initdb.log' 2>&1")) != 0) {
    return absl::InternalError(absl::StrCat("initdb failed; see ", dir, "/initdb.log"));
  }
  // A free port: bind to 0 and let it go.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return absl::UnavailableError("cannot find a free port");
  }
  ::close(fd);
  auto cluster = std::unique_ptr<PgCluster>(new PgCluster(dir, ntohs(addr.sin_port)));
  RIB_RETURN_IF_ERROR(cluster->PgCtl("start"));
  return cluster;
}

absl::Status PgCluster::PgCtl(const std::string& args) const {
  const std::string options =
      absl::StrCat("-p ", port_, " -k ", dir_,
                   " -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200");
  const int rc = RunAsPostgres(absl::StrCat(kPgBin, "/pg_ctl -D '", dir_, "/data' -l '",
                                            log(), "' -w -o '", options, "' ", args,
                                            " >/dev/null"));
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("pg_ctl ", args, " failed (", rc, "); see ",
                                            log()));
  }
  return absl::OkStatus();
}

PgCluster::~PgCluster() { PgCtl("-m fast stop").IgnoreError(); }

std::string PgCluster::admin_url() const {
  return absl::StrCat("postgresql://postgres@127.0.0.1:", port_, "/postgres");
}

absl::Status PgCluster::RestartImmediate() { return PgCtl("-m immediate restart"); }

absl::StatusOr<std::unique_ptr<Child>> StartWorker(
    const std::string& coordinator, const std::string& name, const std::string& data_root,
    const std::string& artifact_root, const std::string& log, const std::string& devices,
    const std::vector<std::string>& extra_flags) {
  std::vector<std::string> argv = {Binary("rib-worker"),
                                   absl::StrCat("--coordinator=", coordinator),
                                   absl::StrCat("--devices=", devices),
                                   "--threads-per-slot=1",
                                   absl::StrCat("--data-root=", data_root),
                                   absl::StrCat("--artifact-root=", artifact_root),
                                   absl::StrCat("--name=", name),
                                   "--acquire-wait=1s",
                                   "--drain-timeout=30s",
                                   "--kill-grace=1s"};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  return Child::Start(argv, log);
}

Client::Client(const std::string& address, const std::string& token,
               const tls::ClientTlsOptions& tls)
    : token_(token) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> made = tls::MakeChannel(address, tls);
  // A bad TLS file is the test's own mistake: say so, and fall back to a channel that
  // fails every call.
  if (!made.ok()) {
    std::fprintf(stderr, "e2e client: %s\n", made.status().ToString().c_str());
  }
  std::shared_ptr<grpc::Channel> channel =
      made.ok()
          ? *made
          : grpc::CreateChannel("unix:/nonexistent", grpc::InsecureChannelCredentials());
  stub_ = v1::Coordinator::NewStub(channel);
  worker_api_ = v1::WorkerApi::NewStub(channel);
}

namespace {
absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// A read, retried while it answers UNAVAILABLE for up to client->read_retry() (see
// RetryReadsWhileUnavailable). Any other answer, and the last UNAVAILABLE, is returned.
// `call(ctx)` makes one attempt with a fresh context.
template <typename Call>
absl::Status RetryRead(const Client* client, Call call) {
  const absl::Time until = absl::Now() + client->read_retry();
  absl::Duration wait = absl::Milliseconds(100);
  for (;;) {
    grpc::ClientContext ctx;
    client->Prepare(&ctx);
    absl::Status s = FromGrpc(call(&ctx));
    if (s.code() != absl::StatusCode::kUnavailable || absl::Now() + wait > until) return s;
    absl::SleepFor(wait);
    wait = std::min(2 * wait, absl::Seconds(1));
  }
}
}  // namespace

void Client::Prepare(grpc::ClientContext* ctx) const {
  if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
}

absl::StatusOr<std::string> Client::Submit(const std::string& yaml) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  v1::SubmitSweepRequest req;
  req.set_sweep_yaml(yaml);
  req.set_source_name("e2e.yaml");
  v1::SubmitSweepResponse resp;
  RIB_RETURN_IF_ERROR(FromGrpc(stub_->SubmitSweep(&ctx, req, &resp)));
  return resp.sweep_id();
}

absl::StatusOr<v1::Sweep> Client::GetSweep(const std::string& sweep_id) {
  v1::GetSweepRequest req;
  req.set_sweep_id(sweep_id);
  v1::Sweep resp;
  RIB_RETURN_IF_ERROR(RetryRead(
      this, [&](grpc::ClientContext* ctx) { return stub_->GetSweep(ctx, req, &resp); }));
  return resp;
}

absl::StatusOr<std::vector<v1::Job>> Client::Jobs(const std::string& sweep_id) {
  v1::ListJobsRequest req;
  req.set_sweep_id(sweep_id);
  v1::ListJobsResponse resp;
  RIB_RETURN_IF_ERROR(RetryRead(
      this, [&](grpc::ClientContext* ctx) { return stub_->ListJobs(ctx, req, &resp); }));
  return std::vector<v1::Job>(resp.jobs().begin(), resp.jobs().end());
}

absl::StatusOr<v1::Job> Client::GetJob(const std::string& job_id) {
  v1::GetJobRequest req;
  req.set_job_id(job_id);
  v1::Job resp;
  RIB_RETURN_IF_ERROR(RetryRead(
      this, [&](grpc::ClientContext* ctx) { return stub_->GetJob(ctx, req, &resp); }));
  return resp;
}

absl::StatusOr<v1::GetMatrixResponse> Client::Matrix(const std::string& sweep_id) {
  v1::GetMatrixRequest req;
  req.set_sweep_id(sweep_id);
  v1::GetMatrixResponse resp;
  RIB_RETURN_IF_ERROR(RetryRead(
      this, [&](grpc::ClientContext* ctx) { return stub_->GetMatrix(ctx, req, &resp); }));
  return resp;
}

absl::Status Client::Cancel(const std::string& sweep_id) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  v1::CancelSweepRequest req;
  req.set_sweep_id(sweep_id);
  v1::Sweep resp;
  return FromGrpc(stub_->CancelSweep(&ctx, req, &resp));
}

absl::StatusOr<v1::SweepState> Client::WaitForSweep(const std::string& sweep_id,
                                                    absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (true) {
    RIB_ASSIGN_OR_RETURN(v1::Sweep sweep, GetSweep(sweep_id));
    if (sweep.state() != v1::SWEEP_STATE_ACTIVE) return sweep.state();
    if (absl::Now() > until) {
      return absl::DeadlineExceededError(
          absl::StrCat("sweep ", sweep_id, " still active after ",
                       absl::FormatDuration(timeout), ": ", sweep.ShortDebugString()));
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
}

std::map<std::string, std::string> MatrixCells(const v1::GetMatrixResponse& matrix) {
  std::map<std::string, std::string> out;
  for (const v1::Matrix& m : matrix.matrices()) {
    auto add_row = [&](const v1::MatrixRow& row, const std::string& label) {
      for (int j = 0; j < row.cells_size() && j < m.eval_datasets_size(); ++j) {
        const v1::Cell& c = row.cells(j);
        if (!c.present()) continue;
        out[absl::StrCat(m.model(), "/", m.method(), "/", label, "/", m.eval_datasets(j))] =
            absl::StrCat(c.correct(), "/", c.total());
      }
    };
    add_row(m.baseline(), "pre");
    for (const v1::MatrixRow& row : m.rows()) add_row(row, row.finetune_dataset());
  }
  return out;
}

std::set<pid_t> FindProcesses(const std::vector<std::string>& needles) {
  std::set<pid_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmd(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(cmd)), {});
    bool all = !cmdline.empty();
    for (const auto& n : needles) all = all && cmdline.find(n) != std::string::npos;
    if (!all) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const size_t paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z') {
      continue;  // exited, not yet reaped
    }
    out.insert(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

}  // namespace rib::e2e
