// `rib-worker --rank-mode --job-file F`: one rank of one job. Started by RankExecutor
// through worker/dist's RankGroup, which sets RIB_RANK, RIB_WORLD_SIZE, RIB_MASTER_ADDR,
// RIB_MASTER_PORT and RIB_HEARTBEAT_FILE.
//
// Every rank joins the job's process group (Gloo on CPU, NCCL on CUDA) and runs the
// engine's RunJob on its shard. Rank 0 streams the attempt's events to the coordinator
// over its own ReportResults stream: started, progress, each accuracy as soon as it is
// computed, checkpoints, and finished (ok with the weights path, or the error).
//
// Exit codes: 0 when the job ran (rank 0: and its `finished` was answered by the
// coordinator); 1 when it failed on this rank; 2 for a bad job file or environment;
// kFencedExitCode when the coordinator rejected the attempt (another attempt owns the
// job; nothing more is written); kUnreachableExitCode when the coordinator stayed
// unreachable.
#ifndef RIB_WORKER_AGENT_RANK_MAIN_H_
#define RIB_WORKER_AGENT_RANK_MAIN_H_

#include <string>

namespace rib::agent {

inline constexpr int kFencedExitCode = 76;
inline constexpr int kUnreachableExitCode = 69;

int RunRankMode(const std::string& job_file);

}  // namespace rib::agent

#endif  // RIB_WORKER_AGENT_RANK_MAIN_H_
