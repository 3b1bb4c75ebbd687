// agent_fake_rank: stands in for rib-rank in the RankExecutor tests. Reads the job file
// (`--job-file F`, as the executor passes it) and behaves by job id; rank 0 speaks the
// rank side of the rank link (worker/protocol/rank_link.h) like the real runtime.
//   ok        rank 0 sends started, a result, a checkpoint and finished{ok, weights}
//   fail      rank 1 prints "boom on rank 1" and exits 3; rank 0 sleeps 30 s
//   crash     rank 0 sends started, prints "crashed" and exits 1 without `finished`
//   drain     rank 0 sends started; on SIGTERM every rank exits 75, rank 0 after
//             sending a checkpoint <checkpoint_dir>/step-7.ckpt
//   progress  rank 0 sends a progress event every 20 ms for 30 s
//   garbage   rank 0 writes bytes that are not a JobEvent, then sleeps 30 s
//   other     sleeps 30 s
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "worker/protocol/job_file.h"
#include "worker/protocol/rank_env.h"
#include "worker/protocol/rank_link.h"

namespace {

volatile sig_atomic_t g_term = 0;
void OnTerm(int) { g_term = 1; }

}  // namespace

int main(int argc, char** argv) {
  std::string job_file;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--job-file") == 0) job_file = argv[i + 1];
  }
  auto job = rib::protocol::ReadJobFile(job_file);
  if (!job.ok()) {
    std::fprintf(stderr, "%s\n", job.status().ToString().c_str());
    return rib::protocol::kBadJobExitCode;
  }
  const char* rank_env = std::getenv(rib::protocol::kRankEnv);
  const int rank = rank_env != nullptr ? std::atoi(rank_env) : -1;
  const char* fd_env = std::getenv(rib::protocol::kAgentFdEnv);
  const int fd = fd_env != nullptr ? std::atoi(fd_env) : -1;
  if ((rank == 0) != (fd >= 0)) {
    std::fprintf(stderr, "rank %d has agent fd %d: only rank 0 should\n", rank, fd);
    return 9;
  }
  rib::protocol::RankLinkWriter link{rib::protocol::UniqueFd(fd)};
  auto send = [&](const rib::v1::JobEvent& e) {
    if (rank == 0 && !link.Send(e).ok()) std::_Exit(8);
  };
  const std::string& id = job->job_id;
  rib::v1::JobEvent started;
  started.set_started(true);

  if (id == "ok") {
    send(started);
    rib::v1::JobEvent result;
    result.mutable_result()->set_dataset("fmnist-val");
    result.mutable_result()->set_correct(3);
    result.mutable_result()->set_total(4);
    send(result);
    rib::v1::JobEvent checkpoint;
    checkpoint.set_checkpoint(job->checkpoint_dir + "/epoch-1.ckpt");
    send(checkpoint);
    rib::v1::JobEvent finished;
    finished.mutable_finished()->set_ok(true);
    finished.mutable_finished()->set_weights(job->weights_out);
    send(finished);
    return 0;
  }
  if (id == "fail") {
    if (rank == 1) {
      std::fprintf(stderr, "boom on rank 1\n");
      return 3;
    }
    sleep(30);
    return 0;
  }
  if (id == "crash") {
    send(started);
    if (rank == 0) {
      std::fprintf(stderr, "crashed\n");
      return 1;
    }
    sleep(30);
    return 0;
  }
  if (id == "drain") {
    signal(SIGTERM, OnTerm);
    send(started);
    for (int i = 0; i < 3000 && !g_term; ++i) usleep(10000);
    if (!g_term) return 1;
    rib::v1::JobEvent checkpoint;
    checkpoint.set_checkpoint(job->checkpoint_dir + "/step-7.ckpt");
    send(checkpoint);
    return rib::protocol::kDrainedExitCode;
  }
  if (id == "progress") {
    for (int step = 1; step <= 1500; ++step) {
      rib::v1::JobEvent progress;
      progress.mutable_progress()->set_step(step);
      send(progress);
      usleep(20000);
    }
    return 0;
  }
  if (id == "garbage" && rank == 0) {
    const char junk[] = "\xff\xff\xff\xff not a JobEvent";
    if (::send(fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL) < 0) return 8;
  }
  sleep(30);
  return 0;
}
