// How an agent starts a rank process and how the rank answers (DESIGN §8): the
// environment variables the launcher (worker/agent/launcher.h) sets, the descriptor of
// the rank link (rank_link.h), the heartbeat file, and the exit codes the agent reads.
// Torch-free: the agent and the rank runtime both include it.
#ifndef RIB_WORKER_PROTOCOL_RANK_ENV_H_
#define RIB_WORKER_PROTOCOL_RANK_ENV_H_

#include <map>
#include <string>

#include "absl/status/status.h"

namespace rib::protocol {

// Rendezvous: this rank, the number of ranks, and rank 0's TCPStore address.
inline constexpr char kRankEnv[] = "RIB_RANK";
inline constexpr char kWorldSizeEnv[] = "RIB_WORLD_SIZE";
inline constexpr char kMasterAddrEnv[] = "RIB_MASTER_ADDR";
inline constexpr char kMasterPortEnv[] = "RIB_MASTER_PORT";
// Path of a file the rank touches to show progress (TouchHeartbeat); the launcher
// kills a rank that leaves it untouched past its hang timeout.
inline constexpr char kHeartbeatFileEnv[] = "RIB_HEARTBEAT_FILE";
// Set (to kRankLinkFd) for the rank that reports the attempt's events to its agent
// (rank 0); unset for the others and for a rank started by hand.
inline constexpr char kAgentFdEnv[] = "RIB_AGENT_FD";
// The descriptor number the rank link has in the rank process.
inline constexpr int kRankLinkFd = 3;

// Exit codes of a rank process. 0: the job ran (rank 0: and its `finished` event went
// to the agent). 1: it failed on this rank (rank 0 reported the error). Others:
inline constexpr int kBadJobExitCode = 2;  // unusable job file or environment
// A collective failed because a peer is gone: a casualty, not the cause; the launcher
// blames another failed rank when one exits soon after (EX_IOERR).
inline constexpr int kPeerLostExitCode = 74;
// Stopped on SIGTERM at a step boundary after checkpointing; the agent gives the lease
// back for a resume (EX_TEMPFAIL).
inline constexpr int kDrainedExitCode = 75;

// Copies the process environment (environ) into a map; for main() functions (libraries
// never read the environment themselves).
std::map<std::string, std::string> ProcessEnvironment();

// Updates the modification time of the heartbeat file at `path` (the value of
// RIB_HEARTBEAT_FILE), creating it if needed. Call it at least once per hang timeout
// (every training step and evaluation batch report does). An empty path is a no-op (a
// rank started by hand). INTERNAL naming the path when it cannot be written.
absl::Status TouchHeartbeat(const std::string& path);

}  // namespace rib::protocol

#endif  // RIB_WORKER_PROTOCOL_RANK_ENV_H_
