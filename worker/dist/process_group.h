// Process groups for data-parallel training: the collectives the training loop needs
// (all-reduce, broadcast, barrier) behind one interface, so the engine runs the same
// code with one rank, with N rank processes over c10d (Gloo on CPU, NCCL on CUDA
// builds), or with an in-process fake in tests.
//
// Contract shared by every implementation: collectives are called by ALL ranks of the
// group, in the same order, with tensors of the same count, shapes and dtypes on every
// rank; a rank that skips one leaves the others blocked until the operation timeout.
#ifndef RIB_WORKER_DIST_PROCESS_GROUP_H_
#define RIB_WORKER_DIST_PROCESS_GROUP_H_

#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rib::dist {

// One rank's handle on a group of `size()` ranks.
//
// Thread-compatible: one thread (the rank's training loop) issues the collectives;
// concurrent calls on one object need external synchronisation.
//
// Errors: UNAVAILABLE when a peer is gone or the operation timed out (the attempt may
// be retried from a checkpoint), INVALID_ARGUMENT for bad arguments (root out of range,
// undefined or sparse tensors), INTERNAL for any other backend failure.
class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;

  // This process's rank, in [0, size()).
  virtual int rank() const = 0;
  // Number of ranks in the group (>= 1).
  virtual int size() const = 0;
  // "single", "gloo", "nccl" or "fake": for logs and metrics.
  virtual std::string backend() const = 0;

  // Replaces every tensor, in place, by the element-wise sum of that tensor over all
  // ranks. Tensors must be dense and contiguous; on NCCL they must be on this rank's
  // CUDA device, on Gloo on the CPU.
  virtual absl::Status AllReduceSum(std::vector<torch::Tensor>& tensors) = 0;

  // Overwrites every tensor, in place, with rank `root`'s values.
  virtual absl::Status Broadcast(std::vector<torch::Tensor>& tensors, int root) = 0;

  // Returns once every rank has entered Barrier().
  virtual absl::Status Barrier() = 0;

  // The device the collectives' tensors must live on: the CPU for "single", "gloo" and
  // "fake", this rank's CUDA device for "nccl".
  virtual torch::Device device() const { return torch::Device(torch::kCPU); }
};

// The group of one: rank 0 of size 1. Every collective is a no-op that returns OK
// (after checking its arguments as the real ones do).
std::unique_ptr<ProcessGroup> CreateSingleProcessGroup();

// How a rank joins a c10d group.
struct RendezvousOptions {
  // Address of rank 0's TCPStore. Ranks of one job run on one node, so the default is
  // the loopback address.
  std::string host = "127.0.0.1";
  // TCP port of rank 0's TCPStore. 0 lets rank 0 pick a free port, which only works for
  // world_size == 1 (nobody else could learn it); with several ranks, the launcher
  // picks one with PickFreePort() (worker/agent/launcher.h) and passes it to every rank
  // (RIB_MASTER_PORT).
  int port = 0;
  // This process's rank in [0, world_size).
  int rank = 0;
  int world_size = 1;
  // "gloo", "nccl", or "auto" (default): nccl on CUDA builds when CUDA is available,
  // gloo otherwise.
  std::string backend = "auto";
  // How long rendezvous (store connection and every rank joining the group) may take
  // before CreateProcessGroup fails with UNAVAILABLE. 60 s covers slow rank start-up
  // (loading a model) on a busy node. c10d retries connecting once a second, so the
  // connection part is rounded to whole seconds (at least 1 s).
  absl::Duration timeout = absl::Seconds(60);
  // How long one collective may block (a peer that died or stalled). Default 30 min:
  // longer than any evaluation pass between two collectives; the launcher's hang
  // timeout usually fires first.
  absl::Duration operation_timeout = absl::Minutes(30);
  // NCCL only: the CUDA device this rank uses. -1 (default): rank % device count, the
  // usual one-GPU-per-rank mapping when the launcher leaves CUDA_VISIBLE_DEVICES alone.
  int cuda_device = -1;
};

// Joins the group described by `options`: rank 0 hosts a c10d::TCPStore on
// options.port, every rank connects to it and creates the c10d backend. Sets SIGPIPE to
// SIG_IGN if it has the default action (as Python does), so a vanished peer fails the
// collective with UNAVAILABLE instead of killing this process; a rank's main() should
// then exit with protocol::kPeerLostExitCode (worker/protocol/rank_env.h) on
// UNAVAILABLE from a collective.
// Errors: INVALID_ARGUMENT (bad rank/size/backend/port), UNAVAILABLE (rendezvous timed
// out or the store is unreachable; the message names the rank, host and port),
// UNIMPLEMENTED (backend not compiled into this build), INTERNAL (other c10d errors).
absl::StatusOr<std::unique_ptr<ProcessGroup>> CreateProcessGroup(
    const RendezvousOptions& options);

// Whether this build can create a Gloo (CPU) or NCCL (CUDA) group.
bool GlooAvailable();
bool NcclAvailable();

// Builds RendezvousOptions from a rank's environment (worker/protocol/rank_env.h:
// RIB_RANK, RIB_WORLD_SIZE, RIB_MASTER_ADDR, RIB_MASTER_PORT; the other fields keep
// their defaults). The rank's main() copies its environment into `env`
// (protocol::ProcessEnvironment; libraries never read the environment themselves).
// Errors: INVALID_ARGUMENT naming the missing or malformed variable.
absl::StatusOr<RendezvousOptions> RendezvousOptionsFromEnv(
    const std::map<std::string, std::string>& env);

}  // namespace rib::dist

#endif  // RIB_WORKER_DIST_PROCESS_GROUP_H_
