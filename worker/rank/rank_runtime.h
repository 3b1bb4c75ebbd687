// The rank runtime: one rank of one attempt (`rib-rank --job-file F`), started by the
// agent's launcher (worker/agent/rank_executor.h), which sets the environment of
// worker/protocol/rank_env.h.
//
// Every rank joins the attempt's process group (Gloo on CPU, NCCL on CUDA) and runs the
// engine's RunJob on its shard. Rank 0 sends the attempt's events to its agent over the
// rank link (worker/protocol/rank_link.h): started, progress, each accuracy as soon as
// it is computed, checkpoints, finished (ok with the weights, or the error and its
// code). The agent forwards them to the coordinator; ranks never talk to it.
//
// Checkpoints go to <job file's checkpoint_dir>/attempt-<attempt>/ (the engine keeps
// the last two there, trainer.h): two attempts of one job that run at once (one the
// coordinator gave up on, and its successor) never write or remove each other's files.
// Earlier attempts' folders are left for the resume (and for a person).
//
// Liveness: the rank touches its heartbeat file (RIB_HEARTBEAT_FILE, rank_env.h) at
// start, at every event, and at most once a second at every training step and
// evaluation batch (engine::EventSink::OnAlive). The agent's hang timeout
// (--rank_hang_timeout, default 30 min) is therefore the longest one training step or
// one evaluation batch may take, or the work between two of them with no step or batch
// in between (loading the model, opening and splitting a dataset, writing weights) —
// not the length of an evaluation or an epoch.
//
// SIGTERM asks the job to stop: every rank stops after the same training step (or
// between two evaluation datasets), rank 0 checkpoints there and reports the
// checkpoint, and every rank exits with kDrainedExitCode, which the agent reports as a
// release (the next attempt resumes from the checkpoint). SIGKILL is how the agent
// stops an attempt that must write nothing more.
//
// Exit codes (rank_env.h): 0 the job ran; 1 it failed on this rank (rank 0 sent the
// error); kBadJobExitCode for an unusable job file or environment; kPeerLostExitCode
// when a collective failed because a peer is gone; kDrainedExitCode after a stop.
#ifndef RIB_WORKER_RANK_RANK_RUNTIME_H_
#define RIB_WORKER_RANK_RANK_RUNTIME_H_

#include <map>
#include <string>

namespace rib::rank {

// Runs the rank; returns the process's exit code. `env` is the process environment
// (protocol::ProcessEnvironment()). Installs a SIGTERM handler for the stop. Call once,
// from main.
int RunRank(const std::string& job_file, const std::map<std::string, std::string>& env);

}  // namespace rib::rank

#endif  // RIB_WORKER_RANK_RANK_RUNTIME_H_
