// rib-rank: one rank of one job, started by rib-worker (worker/rank/rank_runtime.h).
//
//   rib-rank --job-file <run dir>/job.txt     (the agent sets the environment)
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "common/program.h"
#include "worker/protocol/rank_env.h"
#include "worker/rank/rank_runtime.h"

ABSL_FLAG(std::string, job_file, "", "the attempt's job file, written by rib-worker");

namespace {

const rib::ProgramHelp kHelp = {
    "rib-rank",
    "--job-file FILE",
    "One rank of one data-parallel job, started by rib-worker (one per device slot),\n"
    "not by hand. Joins the job's process group (RIB_RANK, RIB_WORLD_SIZE,\n"
    "RIB_MASTER_ADDR, RIB_MASTER_PORT), fine-tunes and evaluates its shard, and rank 0\n"
    "sends every event to the worker over the descriptor named by RIB_AGENT_FD. SIGTERM\n"
    "checkpoints at the next step and exits 75.",
    {"rib-rank --job-file=/shared/rib/runs/<job>/attempt-1/job.txt"}};

}  // namespace

int main(int argc, char** argv) {
  rib::ParseFlagsOrExit(kHelp, argc, argv);
  if (absl::GetFlag(FLAGS_job_file).empty()) {
    std::fprintf(stderr, "rib-rank: --job-file is required\n");
    return rib::protocol::kBadJobExitCode;
  }
  return rib::rank::RunRank(absl::GetFlag(FLAGS_job_file),
                            rib::protocol::ProcessEnvironment());
}
