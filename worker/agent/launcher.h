// Launching and supervising the rank processes of one data-parallel job.
//
// A RankGroup starts world_size copies of one command, each in its own process group
// (so a rank's own children die with it), with its stdout and stderr in per-rank log
// files and the rendezvous variables of worker/protocol/rank_env.h in its environment,
// and (optionally) its end of the rank link as descriptor 3. Wait()
// supervises them: the first rank that fails, is killed, or hangs takes the others
// down with it, and the error names that rank and shows the tail of its stderr.
#ifndef RIB_WORKER_AGENT_LAUNCHER_H_
#define RIB_WORKER_AGENT_LAUNCHER_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "worker/protocol/rank_env.h"

namespace rib::agent {

struct RankLaunchOptions {
  // The command: argv[0] is the binary's path (not searched in $PATH), then its
  // arguments. Every rank runs the same command; it learns its rank from RIB_RANK.
  std::vector<std::string> argv;
  // Number of ranks to start (>= 1).
  int world_size = 1;
  // Extra environment variables. Each rank's environment is this process's environment
  // (unless inherit_environment is false), overridden by `env`, overridden by
  // RIB_RANK, RIB_WORLD_SIZE, RIB_MASTER_ADDR, RIB_MASTER_PORT and RIB_HEARTBEAT_FILE.
  std::map<std::string, std::string> env;
  // Whether ranks inherit this process's environment. Default true (PATH, LD_*, CUDA_*).
  bool inherit_environment = true;
  // Rendezvous address and port passed to every rank (RIB_MASTER_ADDR/PORT). Port 0
  // (default): Start() picks a free port with PickFreePort().
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  // A rank that has not touched its heartbeat file (RIB_HEARTBEAT_FILE, see
  // protocol::TouchHeartbeat) for this long is hung: all ranks are killed and Wait()
  // returns DEADLINE_EXCEEDED. The clock starts when the rank starts. Infinite (default):
  // no hang detection.
  absl::Duration hang_timeout = absl::InfiniteDuration();
  // Wall-clock limit for the whole group; past it all ranks are killed and Wait()
  // returns DEADLINE_EXCEEDED. Default: none.
  absl::Duration overall_timeout = absl::InfiniteDuration();
  // Time between SIGTERM and SIGKILL when a failure takes the other ranks down. 5 s lets
  // a rank flush its logs; tests use less.
  absl::Duration kill_grace = absl::Seconds(5);
  // Descriptors handed to the ranks, index = rank (shorter = none for the rest; -1 =
  // none): rank r gets rank_link_fds[r] as descriptor protocol::kRankLinkFd, named by
  // RIB_AGENT_FD (worker/protocol/rank_link.h). Every other descriptor of this process
  // is closed in the rank. The caller keeps ownership (close its copy after Start).
  std::vector<int> rank_link_fds;
  // Folder (created if missing) for rank<N>.stderr.log, rank<N>.stdout.log and
  // rank<N>.heartbeat. Required.
  std::string log_dir;
  // After a rank exits with protocol::kPeerLostExitCode, how long Wait() waits for the
  // rank that caused it to exit (and be blamed instead) before blaming the first. A
  // rank that dies is still tearing itself down when its peers notice its closed
  // sockets; 2 s covers that. Other ranks are not signalled meanwhile.
  absl::Duration cause_settle = absl::Seconds(2);
  // Lines of a failed rank's stderr quoted in Wait()'s error.
  int stderr_tail_lines = 20;
  // Ranks get SIGKILL when the thread that called Start() exits (PR_SET_PDEATHSIG), so
  // a worker killed with kill -9 leaves no ranks behind. Call Start() from a thread that
  // outlives the ranks (e.g. the one that calls Wait()).
  bool die_with_parent = true;
};

// What happened to one rank, once it has exited.
struct RankExit {
  int rank = 0;
  pid_t pid = 0;
  bool exited = false;  // exit_code is valid
  int exit_code = 0;
  bool signaled = false;  // term_signal is valid
  int term_signal = 0;
  absl::Time exit_time;  // when its waiter thread reaped it
};

// A running group of rank processes.
//
// Thread-safe: Kill() may be called from any thread (e.g. to cancel a job) while
// another thread is blocked in Wait(); Wait() must be called by one thread at a time.
// Destroying a RankGroup kills (SIGKILL) and reaps any rank still running.
class RankGroup {
 public:
  // Starts every rank. On failure to start any of them, kills those already started.
  // Errors: INVALID_ARGUMENT (empty argv, world_size < 1, no log_dir), INTERNAL
  // (the log folder cannot be created, fork fails), NOT_FOUND (argv[0] not executable).
  static absl::StatusOr<std::unique_ptr<RankGroup>> Start(RankLaunchOptions options);

  ~RankGroup();
  RankGroup(const RankGroup&) = delete;
  RankGroup& operator=(const RankGroup&) = delete;

  // Blocks until every rank has exited. OK when all exited with code 0. Otherwise the
  // first failure observed decides (all other ranks are killed, SIGTERM then SIGKILL
  // after kill_grace, and reaped before returning; a rank that exits with
  // protocol::kDrainedExitCode, stopped by a SIGTERM from outside, also counts as a
  // failure here, and its peers follow it the same way):
  //   INTERNAL           a rank exited non-zero or died of a signal it was not sent by
  //                      us: "rank 1 of 2 (pid 123) exited with code 3" / "was killed by
  //                      signal 9 (Killed)", then the last lines of its stderr;
  //   DEADLINE_EXCEEDED  a rank hung past hang_timeout, or overall_timeout passed;
  //   CANCELLED          Kill() was called.
  // When one rank's death makes the others fail (a peer closed the connection), the
  // error names the cause, not the casualties: ranks are reaped by their own threads
  // the moment they exit and blamed earliest first, and a rank that exits with
  // protocol::kPeerLostExitCode is blamed only if no other rank fails within
  // cause_settle.
  // Calling Wait() again returns the same status.
  absl::Status Wait();

  // Kills every rank still running now: SIGKILL to each rank's process group (SIGTERM
  // would ask a rank to checkpoint, and an attempt that is cancelled or no longer owns
  // its job must write nothing more). Returns at once. Thread-safe.
  void Kill();

  // The ranks' process ids, index = rank (also their process-group ids).
  std::vector<pid_t> pids() const { return pids_; }
  // The rendezvous port given to the ranks.
  int master_port() const { return options_.master_port; }
  // Path of rank `rank`'s stderr log.
  std::string StderrPath(int rank) const;
  std::string StdoutPath(int rank) const;
  std::string HeartbeatPath(int rank) const;
  // Per-rank exit information; valid after Wait() returned.
  std::vector<RankExit> exits() const;

 private:
  explicit RankGroup(RankLaunchOptions options);
  absl::Status Spawn(int rank);
  // Blocks in waitpid() for rank `rank` (process `pid`), then records its exit (runs on
  // waiters_[rank]).
  void Reap(int rank, pid_t pid);
  void SignalAll(int sig) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // SIGKILLs every live rank and joins the waiter threads (the destructor's ending).
  void KillAndReapAll();
  std::string DescribeFailure(const RankExit& exit) const;

  const RankLaunchOptions options_;
  // Set by Start() (one per rank, index = rank), then immutable.
  std::vector<pid_t> pids_;
  std::vector<std::thread> waiters_;
  absl::Time start_time_;

  mutable absl::Mutex mu_;
  std::vector<bool> reaped_ ABSL_GUARDED_BY(mu_);
  int reaped_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<RankExit> exits_ ABSL_GUARDED_BY(mu_);
  bool kill_requested_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time term_sent_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool waited_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status result_ ABSL_GUARDED_BY(mu_);
};

// A TCP port on `host` that is free now (bound to port 0, read back, closed). Another
// process may take it before the ranks bind it; rendezvous then fails with UNAVAILABLE
// and the attempt is retried.
absl::StatusOr<int> PickFreePort(const std::string& host = "127.0.0.1");

}  // namespace rib::agent

#endif  // RIB_WORKER_AGENT_LAUNCHER_H_
