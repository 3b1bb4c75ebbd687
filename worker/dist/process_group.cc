// ProcessGroup implementations: the group of one, and c10d (Gloo / NCCL) groups that
// rendezvous over a TCPStore hosted by rank 0. c10d throws; this file is the one place
// where its exceptions become absl::Status.
#include "worker/dist/process_group.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>

#if __has_include(<gloo/config.h>)
#define USE_C10D_GLOO 1
#define RIB_DIST_HAVE_GLOO 1
#endif
#if defined(RIB_WITH_CUDA) && __has_include(<nccl.h>)
#define USE_C10D_NCCL 1
#define RIB_DIST_HAVE_NCCL 1
#endif

#include <torch/csrc/distributed/c10d/exception.h>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef RIB_DIST_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef RIB_DIST_HAVE_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/cuda.h>

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "worker/protocol/rank_env.h"

namespace rib::dist {
namespace {

std::chrono::milliseconds ToChrono(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return std::chrono::hours(24 * 365);
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

// Whether a c10d/Gloo error message says a peer went away or an operation timed out,
// i.e. whether retrying (a new attempt with fresh processes) may succeed.
bool LooksTransient(absl::string_view message) {
  for (const char* needle :
       {"imed out", "imeout", "onnection closed", "onnection reset", "onnection refused",
        "Broken pipe", "peer", "Socket", "socket", "NCCL communicator was aborted"}) {
    if (absl::StrContains(message, needle)) return true;
  }
  return false;
}

// The first line of a c10::Error's message (its backtrace follows).
std::string FirstLine(const char* what) {
  std::string s(what);
  auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  return s;
}

absl::Status CheckTensors(const std::vector<torch::Tensor>& tensors, const char* op) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!tensors[i].defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": tensor ", i, " is undefined"));
    }
    if (tensors[i].is_sparse()) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": tensor ", i, " is sparse"));
    }
  }
  return absl::OkStatus();
}

class SingleProcessGroup : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "single"; }
  absl::Status AllReduceSum(std::vector<torch::Tensor>& tensors) override {
    return CheckTensors(tensors, "AllReduceSum");
  }
  absl::Status Broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    if (root != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("Broadcast: root ", root, " is not a rank of a group of 1"));
    }
    return CheckTensors(tensors, "Broadcast");
  }
  absl::Status Barrier() override { return absl::OkStatus(); }
};

// A c10d process group (Gloo or NCCL) plus the store it rendezvoused through.
class C10dProcessGroup : public ProcessGroup {
 public:
  C10dProcessGroup(c10::intrusive_ptr<c10d::Store> store,
                   c10::intrusive_ptr<c10d::ProcessGroup> pg, std::string backend,
                   int rank, int size, absl::Duration op_timeout, torch::Device device)
      : store_(std::move(store)),
        pg_(std::move(pg)),
        backend_(std::move(backend)),
        rank_(rank),
        size_(size),
        op_timeout_(ToChrono(op_timeout)),
        device_(device) {}

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return backend_; }
  torch::Device device() const override { return device_; }

  absl::Status AllReduceSum(std::vector<torch::Tensor>& tensors) override {
    if (absl::Status s = CheckTensors(tensors, "AllReduceSum"); !s.ok()) return s;
    return RunPerTensor(tensors, "all-reduce", [&](std::vector<at::Tensor>& one) {
      c10d::AllreduceOptions opts;
      opts.reduceOp = c10d::ReduceOp::SUM;
      opts.timeout = op_timeout_;
      return pg_->allreduce(one, opts);
    });
  }

  absl::Status Broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    if (root < 0 || root >= size_) {
      return absl::InvalidArgumentError(
          absl::StrCat("Broadcast: root ", root, " is not a rank of a group of ", size_));
    }
    if (absl::Status s = CheckTensors(tensors, "Broadcast"); !s.ok()) return s;
    return RunPerTensor(tensors, "broadcast", [&](std::vector<at::Tensor>& one) {
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      opts.timeout = op_timeout_;
      return pg_->broadcast(one, opts);
    });
  }

  absl::Status Barrier() override {
    return Guard("barrier", [&] {
      c10d::BarrierOptions opts;
      opts.timeout = op_timeout_;
      pg_->barrier(opts)->wait(op_timeout_);
    });
  }

 private:
  template <typename F>
  absl::Status Guard(const char* op, F&& f) {
    try {
      f();
      return absl::OkStatus();
    } catch (const std::exception& e) {
      std::string msg = absl::StrCat(backend_, " ", op, " failed on rank ", rank_, " of ",
                                     size_, ": ", FirstLine(e.what()));
      return LooksTransient(msg) ? absl::UnavailableError(msg) : absl::InternalError(msg);
    }
  }

  // c10d treats the tensors of one call as replicas of one buffer (one per device), so
  // distinct tensors go as distinct collectives: all issued first, then awaited, so the
  // backend can pipeline them. Non-contiguous tensors go through a contiguous copy.
  template <typename Issue>
  absl::Status RunPerTensor(std::vector<torch::Tensor>& tensors, const char* op,
                            Issue&& issue) {
    return Guard(op, [&] {
      std::vector<at::Tensor> work_tensors;
      work_tensors.reserve(tensors.size());
      for (auto& t : tensors)
        work_tensors.push_back(t.is_contiguous() ? t : t.contiguous());
      std::vector<c10::intrusive_ptr<c10d::Work>> works;
      works.reserve(tensors.size());
      for (auto& t : work_tensors) {
        std::vector<at::Tensor> one{t};
        works.push_back(issue(one));
      }
      for (auto& w : works) w->wait(op_timeout_);
      for (size_t i = 0; i < tensors.size(); ++i) {
        if (!work_tensors[i].is_same(tensors[i])) tensors[i].copy_(work_tensors[i]);
      }
    });
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> pg_;
  const std::string backend_;
  const int rank_;
  const int size_;
  const std::chrono::milliseconds op_timeout_;
  const torch::Device device_;
};

constexpr char kJoinedKey[] = "rib/rendezvous/joined";
constexpr char kAllJoinedKey[] = "rib/rendezvous/all_joined";

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

}  // namespace

std::unique_ptr<ProcessGroup> CreateSingleProcessGroup() {
  return std::make_unique<SingleProcessGroup>();
}

bool GlooAvailable() {
#ifdef RIB_DIST_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

bool NcclAvailable() {
#ifdef RIB_DIST_HAVE_NCCL
  return torch::cuda::is_available();
#else
  return false;
#endif
}

absl::StatusOr<std::unique_ptr<ProcessGroup>> CreateProcessGroup(
    const RendezvousOptions& options) {
  if (options.world_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("world_size must be >= 1, got ", options.world_size));
  }
  if (options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", options.rank, " is outside [0, ", options.world_size, ")"));
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port ", options.port, " is invalid"));
  }
  if (options.port == 0 && options.world_size > 1) {
    return absl::InvalidArgumentError(
        "port 0 (pick a free port) only works for world_size 1: with several ranks the "
        "launcher must choose the port and pass it to all of them");
  }
  std::string backend = absl::AsciiStrToLower(options.backend);
  if (backend == "auto") backend = NcclAvailable() ? "nccl" : "gloo";
  if (backend != "gloo" && backend != "nccl") {
    return absl::InvalidArgumentError(absl::StrCat("unknown process-group backend \"",
                                                   options.backend,
                                                   "\" (want auto, gloo, nccl)"));
  }
  if (backend == "gloo" && !GlooAvailable()) {
    return absl::UnimplementedError(
        "this build has no Gloo support (install libgloo-dev and rebuild)");
  }
  if (backend == "nccl" && !NcclAvailable()) {
    return absl::UnimplementedError(
        "NCCL is not available (CPU-only build, no NCCL headers, or no CUDA device)");
  }

  // A peer that vanishes makes Gloo/TCPStore write to a closed socket: with SIGPIPE's
  // default action that kills this process silently instead of failing the collective
  // with UNAVAILABLE. Python (and so torch.distributed) ignores SIGPIPE; do the same
  // unless the program installed its own handler.
  struct sigaction current;
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    signal(SIGPIPE, SIG_IGN);
  }

  const std::string where =
      absl::StrCat("rank ", options.rank, " of ", options.world_size, ", store ",
                   options.host, ":", options.port);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(options.port);
    store_options.isServer = options.rank == 0;
    store_options.numWorkers = options.world_size;
    store_options.waitWorkers = false;  // the backend's own rendezvous waits for peers
    // c10d connects with whole-second arithmetic: under 1 s it gives up at once, even
    // when the server is local and up.
    store_options.timeout = ToChrono(std::max(options.timeout, absl::Seconds(1)));
    store = c10::make_intrusive<c10d::TCPStore>(options.host, store_options);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "rendezvous failed (", where, ", timeout ", absl::FormatDuration(options.timeout),
        "): cannot reach the TCPStore: ", FirstLine(e.what())));
  }

  // Every rank checks in and waits for all the others with the rendezvous timeout. The
  // backends' own connection setup waits with the (much longer) operation timeout, so
  // without this a missing rank would block rendezvous for operation_timeout.
  try {
    const int64_t joined = store->add(kJoinedKey, 1);
    if (joined == options.world_size) store->set(kAllJoinedKey, {'1'});
    try {
      store->wait({kAllJoinedKey}, ToChrono(options.timeout));
    } catch (const std::exception& e) {
      int64_t count = -1;
      try {
        count = store->add(kJoinedKey, 0);
      } catch (const std::exception&) {
      }
      return absl::UnavailableError(absl::StrCat(
          "rendezvous timed out (", where, ", timeout ",
          absl::FormatDuration(options.timeout), "): ",
          count >= 0 ? absl::StrCat(count, " of ", options.world_size, " ranks joined")
                     : std::string("the store stopped answering"),
          ": ", FirstLine(e.what())));
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("rendezvous failed (", where, "): ", FirstLine(e.what())));
  }

  try {
    c10::intrusive_ptr<c10d::ProcessGroup> pg;
    torch::Device device(torch::kCPU);
#ifdef RIB_DIST_HAVE_NCCL
    if (backend == "nccl") {
      const int count = static_cast<int>(torch::cuda::device_count());
      const int index = options.cuda_device >= 0 ? options.cuda_device
                                                 : options.rank % std::max(count, 1);
      if (index >= count) {
        return absl::InvalidArgumentError(absl::StrCat(
            "cuda_device ", index, " does not exist (", count, " visible devices)"));
      }
      device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
      c10::cuda::set_device(static_cast<c10::DeviceIndex>(index));
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = ToChrono(options.operation_timeout);
      pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, options.rank,
                                                       options.world_size, nccl_options);
    }
#endif
#ifdef RIB_DIST_HAVE_GLOO
    if (backend == "gloo") {
      auto gloo_options =
          c10d::ProcessGroupGloo::Options::create(ToChrono(options.operation_timeout));
      gloo_options->devices.push_back(
          IsLoopback(options.host)
              ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
              : c10d::ProcessGroupGloo::createDefaultDevice());
      gloo_options->threads = 2;
      pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, options.rank,
                                                       options.world_size, gloo_options);
    }
#endif
    if (!pg) return absl::InternalError("no backend created");
    return std::make_unique<C10dProcessGroup>(std::move(store), std::move(pg), backend,
                                              options.rank, options.world_size,
                                              options.operation_timeout, device);
  } catch (const std::exception& e) {
    std::string msg = FirstLine(e.what());
    std::string full =
        absl::StrCat("rendezvous failed (", where, ", backend ", backend, ", timeout ",
                     absl::FormatDuration(options.timeout), "): ", msg);
    return LooksTransient(msg) ? absl::UnavailableError(full) : absl::InternalError(full);
  }
}

absl::StatusOr<RendezvousOptions> RendezvousOptionsFromEnv(
    const std::map<std::string, std::string>& env) {
  using protocol::kMasterAddrEnv;
  using protocol::kMasterPortEnv;
  using protocol::kRankEnv;
  using protocol::kWorldSizeEnv;
  RendezvousOptions options;
  auto get_int = [&](const char* name, int* out) -> absl::Status {
    auto it = env.find(name);
    if (it == env.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment variable ", name, " is not set"));
    }
    if (!absl::SimpleAtoi(it->second, out)) {
      return absl::InvalidArgumentError(absl::StrCat("environment variable ", name, "=\"",
                                                     it->second, "\" is not an integer"));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = get_int(kRankEnv, &options.rank); !s.ok()) return s;
  if (absl::Status s = get_int(kWorldSizeEnv, &options.world_size); !s.ok()) return s;
  if (absl::Status s = get_int(kMasterPortEnv, &options.port); !s.ok()) return s;
  if (auto it = env.find(kMasterAddrEnv); it != env.end() && !it->second.empty()) {
    options.host = it->second;
  }
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(absl::StrCat(kRankEnv, "=", options.rank, " / ",
                                                   kWorldSizeEnv, "=", options.world_size,
                                                   " is not a valid rank"));
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(kMasterPortEnv, "=", options.port, " is not a TCP port"));
  }
  return options;
}

}  // namespace rib::dist
