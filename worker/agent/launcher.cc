#include "worker/agent/launcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "worker/protocol/rank_env.h"

extern char** environ;

namespace rib::agent {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(10);

std::string ErrnoText(int err) { return std::strerror(err); }

// The last `max_lines` lines of the file at `path` (reads at most its last 64 KiB).
std::string TailOfFile(const std::string& path, int max_lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff start = std::max<std::streamoff>(0, size - (64 << 10));
  in.seekg(start);
  std::string data(static_cast<size_t>(size - start), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  while (!data.empty() && (data.back() == '\n' || data.back() == '\r')) data.pop_back();
  std::vector<absl::string_view> lines = absl::StrSplit(data, '\n');
  if (start > 0 && lines.size() > 1) lines.erase(lines.begin());  // partial first line
  if (static_cast<int>(lines.size()) > max_lines) {
    lines.erase(lines.begin(), lines.end() - max_lines);
  }
  return absl::StrJoin(lines, "\n");
}

std::optional<absl::Time> ModificationTime(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  return absl::TimeFromTimespec(st.st_mtim);
}

int OpenForChild(const std::string& path, int flags) {
  return open(path.c_str(), flags | O_CLOEXEC, 0644);
}

}  // namespace

RankGroup::RankGroup(RankLaunchOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<RankGroup>> RankGroup::Start(RankLaunchOptions options) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return absl::InvalidArgumentError("RankLaunchOptions.argv is empty");
  }
  if (options.world_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RankLaunchOptions.world_size must be >= 1, got ", options.world_size));
  }
  if (options.log_dir.empty()) {
    return absl::InvalidArgumentError("RankLaunchOptions.log_dir is empty");
  }
  if (access(options.argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("rank binary ", options.argv[0],
                                            " is not executable: ", ErrnoText(errno)));
  }
  std::error_code ec;
  std::filesystem::create_directories(options.log_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create log folder ", options.log_dir, ": ", ec.message()));
  }
  if (options.master_port == 0) {
    absl::StatusOr<int> port = PickFreePort(options.master_addr);
    if (!port.ok()) return port.status();
    options.master_port = *port;
  }
  auto group = std::unique_ptr<RankGroup>(new RankGroup(std::move(options)));
  group->start_time_ = absl::Now();
  {
    absl::MutexLock lock(&group->mu_);
    group->reaped_.assign(group->options_.world_size, false);
    group->exits_.resize(group->options_.world_size);
  }
  // Never reallocated after this: SignalAll() may read it while later ranks start.
  group->pids_.reserve(group->options_.world_size);
  for (int rank = 0; rank < group->options_.world_size; ++rank) {
    if (absl::Status s = group->Spawn(rank); !s.ok()) {
      group->KillAndReapAll();  // also run by the destructor; explicit for clarity
      return s;
    }
  }
  return group;
}

absl::Status RankGroup::Spawn(int rank) {
  // Everything the child needs is prepared before fork(): between fork and execve a
  // multi-threaded parent's child may only make async-signal-safe calls.
  std::map<std::string, std::string> env;
  if (options_.inherit_environment) env = protocol::ProcessEnvironment();
  for (const auto& [k, v] : options_.env) env[k] = v;
  env[protocol::kRankEnv] = std::to_string(rank);
  env[protocol::kWorldSizeEnv] = std::to_string(options_.world_size);
  env[protocol::kMasterAddrEnv] = options_.master_addr;
  env[protocol::kMasterPortEnv] = std::to_string(options_.master_port);
  env[protocol::kHeartbeatFileEnv] = HeartbeatPath(rank);
  const int link_fd = rank < static_cast<int>(options_.rank_link_fds.size())
                          ? options_.rank_link_fds[rank]
                          : -1;
  if (link_fd >= 0) {
    env[protocol::kAgentFdEnv] = std::to_string(protocol::kRankLinkFd);
  } else {
    env.erase(protocol::kAgentFdEnv);  // not inherited from a rank-started agent
  }
  std::vector<std::string> env_strings;
  env_strings.reserve(env.size());
  for (const auto& [k, v] : env) env_strings.push_back(absl::StrCat(k, "=", v));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = options_.argv;
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  const int in_fd = OpenForChild("/dev/null", O_RDONLY);
  const int out_fd = OpenForChild(StdoutPath(rank), O_WRONLY | O_CREAT | O_TRUNC);
  const int err_fd = OpenForChild(StderrPath(rank), O_WRONLY | O_CREAT | O_TRUNC);
  auto close_all = [&] {
    for (int fd : {in_fd, out_fd, err_fd}) {
      if (fd >= 0) close(fd);
    }
  };
  if (in_fd < 0 || out_fd < 0 || err_fd < 0) {
    const int err = errno;
    close_all();
    return absl::InternalError(absl::StrCat("cannot open the logs of rank ", rank, " in ",
                                            options_.log_dir, ": ", ErrnoText(err)));
  }
  // A stale heartbeat from an earlier run must not count as progress.
  unlink(HeartbeatPath(rank).c_str());

  const pid_t parent = getpid();
  const bool die_with_parent = options_.die_with_parent;
  static constexpr char kExecFailed[] = "rib launcher: execve failed\n";
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close_all();
    return absl::InternalError(
        absl::StrCat("fork for rank ", rank, ": ", ErrnoText(err)));
  }
  if (pid == 0) {
    // Child: own process group, so killing the group also kills what the rank starts.
    setpgid(0, 0);
    if (die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
    }
    // Undo what the parent may have set up for itself: a blocked signal mask (servers
    // that sigwait) and ignored signals (SIGPIPE) survive execve.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD}) {
      sigaction(sig, &dfl, nullptr);
    }
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    int first_to_close = 3;
    if (link_fd >= 0) {
      // dup2 clears close-on-exec on the copy; a descriptor already numbered 3 keeps
      // its flags, so clear them.
      if (link_fd == protocol::kRankLinkFd) {
        fcntl(link_fd, F_SETFD, 0);
      } else {
        dup2(link_fd, protocol::kRankLinkFd);
      }
      first_to_close = protocol::kRankLinkFd + 1;
    }
    // Descriptors other threads opened without O_CLOEXEC (a server's listening socket)
    // must not leak into the rank and outlive this process.
    syscall(SYS_close_range, first_to_close, ~0U, 0);
    execve(argv[0], argv.data(), envp.data());
    ssize_t ignored = write(2, kExecFailed, sizeof(kExecFailed) - 1);
    (void)ignored;
    _exit(127);
  }
  setpgid(pid, pid);  // also in the parent, so the group exists before we might signal it
  close_all();
  pids_.push_back(pid);
  // The pid goes by value: this thread must not read pids_, which the next Spawn() grows.
  waiters_.emplace_back([this, rank, pid] { Reap(rank, pid); });
  return absl::OkStatus();
}

RankGroup::~RankGroup() { KillAndReapAll(); }

std::string RankGroup::StderrPath(int rank) const {
  return absl::StrCat(options_.log_dir, "/rank", rank, ".stderr.log");
}
std::string RankGroup::StdoutPath(int rank) const {
  return absl::StrCat(options_.log_dir, "/rank", rank, ".stdout.log");
}
std::string RankGroup::HeartbeatPath(int rank) const {
  return absl::StrCat(options_.log_dir, "/rank", rank, ".heartbeat");
}

std::vector<RankExit> RankGroup::exits() const {
  absl::MutexLock lock(&mu_);
  return exits_;
}

void RankGroup::SignalAll(int sig) {
  for (size_t r = 0; r < pids_.size(); ++r) {
    if (!reaped_[r]) kill(-pids_[r], sig);
  }
}

void RankGroup::Kill() {
  absl::MutexLock lock(&mu_);
  kill_requested_ = true;
  SignalAll(SIGKILL);
}

void RankGroup::Reap(int rank, pid_t pid) {
  int status = 0;
  pid_t got;
  while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  absl::MutexLock lock(&mu_);
  // Whatever the rank left running in its process group goes with it.
  kill(-pid, SIGKILL);
  RankExit& e = exits_[rank];
  e.rank = rank;
  e.pid = pid;
  e.exit_time = absl::Now();
  if (got == pid) {
    e.exited = WIFEXITED(status);
    e.exit_code = e.exited ? WEXITSTATUS(status) : 0;
    e.signaled = WIFSIGNALED(status);
    e.term_signal = e.signaled ? WTERMSIG(status) : 0;
  }
  reaped_[rank] = true;
  ++reaped_count_;
}

void RankGroup::KillAndReapAll() {
  {
    absl::MutexLock lock(&mu_);
    SignalAll(SIGKILL);
  }
  for (auto& t : waiters_) {
    if (t.joinable()) t.join();
  }
}

std::string RankGroup::DescribeFailure(const RankExit& e) const {
  std::string what =
      absl::StrCat("rank ", e.rank, " of ", options_.world_size, " (pid ", e.pid, ")");
  if (e.exited) {
    absl::StrAppend(&what, " exited with code ", e.exit_code);
  } else if (e.signaled) {
    absl::StrAppend(&what, " was killed by signal ", e.term_signal, " (",
                    strsignal(e.term_signal), ")");
  }
  return what;
}

absl::Status RankGroup::Wait() {
  const int n = options_.world_size;
  std::optional<absl::Status> failure;
  auto CancelledStatus = [n] {
    return absl::CancelledError(
        absl::StrCat("the ", n, " ranks were killed on request (cancelled)"));
  };
  // Adds the tail of `rank`'s stderr to `message`.
  auto with_tail = [&](std::string message, int rank) {
    const std::string tail = TailOfFile(StderrPath(rank), options_.stderr_tail_lines);
    if (tail.empty()) {
      absl::StrAppend(&message, "; its stderr (", StderrPath(rank), ") is empty");
    } else {
      absl::StrAppend(&message, "; last lines of its stderr (", StderrPath(rank), "):\n",
                      tail);
    }
    return message;
  };
  std::vector<bool> seen(n, false);
  std::optional<absl::Status> casualty;  // first rank that exited kPeerLostExitCode
  absl::Time settle_until = absl::InfiniteFuture();
  for (bool first = true;; first = false) {
    if (!first) {
      // Wake up for a rank's exit or a Kill(), else poll the clocks every 10 ms.
      absl::MutexLock lock(&mu_);
      const int reaped_before = reaped_count_;
      const bool kill_before = kill_requested_;
      auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return reaped_count_ != reaped_before || kill_requested_ != kill_before;
      };
      mu_.AwaitWithTimeout(absl::Condition(&changed), kPollInterval);
    }
    absl::MutexLock lock(&mu_);
    if (waited_) return result_;
    const absl::Time now = absl::Now();
    // Ranks that exited since the last look, earliest first.
    std::vector<std::pair<absl::Time, int>> newly;  // (exit time, rank)
    for (int r = 0; r < n; ++r) {
      if (reaped_[r] && !seen[r]) newly.emplace_back(exits_[r].exit_time, r);
    }
    std::sort(newly.begin(), newly.end());
    for (const auto& [time, r] : newly) {
      seen[r] = true;
      const RankExit& e = exits_[r];
      const bool ok = e.exited && e.exit_code == 0;
      if (ok || failure.has_value()) continue;
      if (kill_requested_) {
        failure = CancelledStatus();  // it died after Kill(): most likely killed by it
      } else if (e.exited && e.exit_code == protocol::kPeerLostExitCode) {
        if (!casualty.has_value()) {
          casualty = absl::InternalError(with_tail(
              absl::StrCat(DescribeFailure(e), " (it lost a peer; no other rank failed)"),
              r));
          settle_until = now + options_.cause_settle;
        }
      } else if (e.signaled && e.term_signal == SIGKILL) {
        // Killed from outside (the OOM killer, an operator, a dying machine): nothing
        // says the next attempt will meet the same fate, so it is transient
        // (UNAVAILABLE) and the job runs again, within its max_attempts.
        failure = absl::UnavailableError(with_tail(DescribeFailure(e), r));
      } else {
        failure = absl::InternalError(with_tail(DescribeFailure(e), r));
      }
    }
    if (!failure.has_value() && casualty.has_value() &&
        (now >= settle_until || reaped_count_ == n)) {
      failure = casualty;
    }
    if (reaped_count_ == n) {
      waited_ = true;
      result_ = failure.value_or(absl::OkStatus());
      return result_;
    }
    if (!failure.has_value() && kill_requested_) failure = CancelledStatus();
    if (!failure.has_value() && now - start_time_ > options_.overall_timeout) {
      failure = absl::DeadlineExceededError(
          absl::StrCat("the ", n, " ranks did not finish within ",
                       absl::FormatDuration(options_.overall_timeout), "; killed them"));
    }
    if (!failure.has_value() && options_.hang_timeout != absl::InfiniteDuration()) {
      for (int r = 0; r < n && !failure.has_value(); ++r) {
        if (reaped_[r]) continue;
        absl::Time last = start_time_;
        if (auto mtime = ModificationTime(HeartbeatPath(r)); mtime && *mtime > last) {
          last = *mtime;
        }
        if (now - last > options_.hang_timeout) {
          failure = absl::DeadlineExceededError(with_tail(
              absl::StrCat("rank ", r, " of ", n, " (pid ", pids_[r],
                           ") hung: no heartbeat for ", absl::FormatDuration(now - last),
                           " (hang timeout ", absl::FormatDuration(options_.hang_timeout),
                           "); killed all ranks"),
              r));
        }
      }
    }
    if (failure.has_value() && term_sent_at_ == absl::InfiniteFuture()) {
      SignalAll(SIGTERM);
      term_sent_at_ = now;
    }
    if (term_sent_at_ != absl::InfiniteFuture() &&
        now - term_sent_at_ > options_.kill_grace) {
      SignalAll(SIGKILL);
    }
  }
}

absl::StatusOr<int> PickFreePort(const std::string& host) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", ErrnoText(errno)));
  sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (host == "localhost" || inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    addr.sin_addr.s_addr =
        host == "localhost" ? htonl(INADDR_LOOPBACK) : htonl(INADDR_ANY);
  }
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot find a free port on ", host, ": ", ErrnoText(err)));
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

}  // namespace rib::agent
