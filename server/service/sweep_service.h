// What the client API does, in plain C++: submit (parse → digest weights → expand →
// store), read, cancel, retry, the matrix, and the live event stream. rpc/ adapts it
// to gRPC. Thread-safe (all state is in the Repository, but for a cache of weights
// digests under a mutex).
//
// Weights files are opened with OpenUnder (common/paths.h): confined to the artifact
// root even through symbolic links, and only regular files (a FIFO is refused at once).
//
// Errors: INVALID_ARGUMENT for a bad sweep file (the message names the field and line),
// a weights file that is missing, is not a regular file or leaves the artifact root by
// "..", or a TorchScript model without allow_torchscript (naming the model and
// --allow-torchscript); PERMISSION_DENIED (naming the model and the path) for weights
// that resolve outside the artifact root through a symbolic link or cannot be read;
// NOT_FOUND for unknown ids; the Repository's codes otherwise.
#ifndef RIB_SERVER_SERVICE_SWEEP_SERVICE_H_
#define RIB_SERVER_SERVICE_SWEEP_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/domain/placement.h"
#include "server/domain/types.h"
#include "server/storage/change_notifier.h"
#include "server/storage/repository.h"
#include "spec/sweep.h"
#include "spec/job_spec.h"

namespace rib::service {

struct SweepServiceOptions {
  // Weight paths in sweep files are resolved under this folder (and may not leave it).
  // Default "." (the coordinator's working directory).
  std::string artifact_root = ".";
  // The Hugging Face hub cache that `weights: hf-hub:ORG/NAME[@REV]` is resolved in
  // (spec/hf_hub.h); never written, nothing downloaded. Workers read the snapshot
  // under their artifact root's hf-hub/ (spec/artifacts.h). Default "" (main.cc
  // passes --hf-cache: $HF_HOME/hub or ~/.cache/huggingface/hub).
  std::string hf_cache;
  // Accept TorchScript models (arch "torchscript", or weights that are a TorchScript
  // archive: spec/weights_format.h). Default false: a scripted module is code that the
  // workers run; it can read any file a worker can and leak it through its results.
  bool allow_torchscript = false;
  // How often WatchSweep re-reads the event log when no NOTIFY arrives (a backstop for
  // a lost LISTEN connection). Default 1 s.
  absl::Duration watch_poll = absl::Seconds(1);
  // WatchSweep streams open at once at most; each holds one thread of gRPC's sync
  // server while it waits (the callback API is not adopted for WatchSweep), so this
  // bounds those threads. More are refused with RESOURCE_EXHAUSTED naming the limit.
  // Default 200: dashboards and `rib watch` of a team, far below the threads a
  // 2-core machine can switch between.
  int max_watches = 200;
  // A sweep that expands to more jobs is refused at submit (INVALID_ARGUMENT naming the
  // count), before its weights are read. Default 20,000: a full ImageNet-RIB grid of 10
  // models and 12 methods is under 1,200.
  int64_t max_jobs_per_sweep = 20000;
  // Highest sweep priority a user may set (priority outranks fair share at hand-out, so
  // an unbounded one lets one user take the pool). Default 10.
  int max_priority = 10;
};

struct SubmitRequest {
  std::string yaml;
  std::string source_name = "sweep";
  std::string client_request_id;
  bool force = false;
  // The caller's token user, who owns the sweep.
  std::string owner;
  // The caller may ask for a priority above max_priority (auth::MayExceedPriorityCap).
  bool may_exceed_priority_cap = false;
};

// A job as `rib job` shows it.
struct JobDetail {
  domain::Job job;
  std::string spec_json;  // spec::CanonicalJobJson: what its hash is computed from
  // Its attempts, oldest first (for a reused job, those of the job it reuses).
  std::vector<domain::Attempt> attempts;
};

// One job of a planned (not submitted) sweep: `rib plan` / `rib submit --dry-run`.
struct PlannedJobView {
  std::string key;
  std::string hash;
  std::string reused_from;  // the job whose result it would reuse; "" = computes
  domain::JobNeeds needs;
  std::vector<std::string> depends_on;  // keys
  // The registered workers that could run it (domain::WhyCannotRun), by name.
  std::vector<std::string> workers;
  // When none can: each worker's reason ("node1: has no fmnist-r"), or "no workers
  // are registered".
  std::vector<std::string> why_not;
};

struct SweepPlan {
  std::string name;
  std::vector<PlannedJobView> jobs;
  int jobs_new = 0;
  int jobs_reused = 0;
  int jobs_unrunnable = 0;  // jobs that compute and no registered worker can run
};

// What one GetAttemptLog call returns at most.
inline constexpr int kMaxLogReadBytes = 256 << 10;

class SweepService {
 public:
  // `repo` and `changes` are not owned and must outlive the service.
  SweepService(storage::Repository* repo, storage::ChangeNotifier* changes,
               SweepServiceOptions options);

  absl::StatusOr<storage::SubmitResult> Submit(const SubmitRequest& request);
  // What Submit would create, and which workers could run each job, without
  // creating anything: the same parse, checks, weights digests and expansion.
  absl::StatusOr<SweepPlan> Plan(const SubmitRequest& request);
  absl::StatusOr<domain::Sweep> Get(const std::string& sweep_id);
  absl::StatusOr<storage::SweepList> List(int page_size, const std::string& page_token);
  // `actor` (the caller's user) is recorded on the sweep's events.
  absl::StatusOr<domain::Sweep> Cancel(const std::string& sweep_id,
                                       const std::string& actor);
  absl::StatusOr<domain::Sweep> Retry(const std::string& sweep_id,
                                      const std::string& actor);
  // INVALID_ARGUMENT when `priority` is outside ±spec::kPriorityLimit, or above
  // max_priority without may_exceed_cap.
  absl::StatusOr<domain::Sweep> SetPriority(const std::string& sweep_id, int priority,
                                            bool may_exceed_cap);
  absl::StatusOr<storage::JobList> ListJobs(const storage::JobFilter& filter);
  absl::StatusOr<domain::Job> GetJob(const std::string& job_id);
  absl::StatusOr<JobDetail> DescribeJob(const std::string& job_id);
  // Rank `rank`'s log of the job's attempt (0 = latest), from `offset`, at most
  // `max_bytes` (0 or more than kMaxLogReadBytes: kMaxLogReadBytes). INVALID_ARGUMENT
  // for a negative attempt, rank or offset; the Repository's NOT_FOUND.
  absl::StatusOr<domain::LogChunk> ReadLog(const std::string& job_id, int attempt,
                                           int rank, int64_t offset, int max_bytes);
  absl::StatusOr<std::vector<domain::Matrix>> GetMatrix(const std::string& sweep_id,
                                                        const std::string& model,
                                                        const std::string& method);

  // Streams the sweep's events to `emit` as they are written by any coordinator:
  // with `snapshot`, first one state event per job. Ends (OK) after a sweep_state
  // event, i.e. when the sweep is terminal; CANCELLED when `cancelled()` turns true
  // or `emit` returns false (the client went away). RESOURCE_EXHAUSTED when
  // max_watches are already open.
  absl::Status Watch(const std::string& sweep_id, bool snapshot,
                     const std::function<bool(const domain::SweepEvent&)>& emit,
                     const std::function<bool()>& cancelled);

 private:
  // Submit's and Plan's common part: parse, check, digest the weights, expand.
  absl::StatusOr<storage::NewSweep> Prepare(const SubmitRequest& request);
  // The coordinator's bounds on one sweep: its priority and its job count.
  absl::Status CheckLimits(const spec::SweepSpec& spec, bool may_exceed_priority_cap) const;
  // The priority cap, the only implementation.
  absl::Status CheckPriority(const std::string& sweep_name, int priority,
                             bool may_exceed_cap) const;
  // Opens the model's weights `path` (confined to `root`: the artifact root, or the hub
  // cache for hub models), refuses TorchScript unless allowed, and
  // returns the file's sha256: hashed once per file while its (device, inode, size,
  // mtime) stay the same (and its mtime is older than kRacyWindow), so models that
  // share a file, and resubmissions, do not read it again.
  absl::StatusOr<std::string> DigestWeights(const ModelSpec& model, const std::string& root,
                                            const std::string& path);

  // What identifies one version of a weights file for the digest cache.
  struct FileVersion {
    uint64_t device = 0, inode = 0, size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const FileVersion& o) const {
      return device == o.device && inode == o.inode && size == o.size &&
             mtime_ns == o.mtime_ns;
    }
  };
  struct CachedDigest {
    FileVersion version;
    std::string sha256;
  };
  // At most this many files are remembered (then the cache starts afresh).
  static constexpr size_t kMaxCachedDigests = 4096;
  // A file modified less than this before it was hashed is hashed again next time.
  static constexpr absl::Duration kRacyWindow = absl::Seconds(2);

  storage::Repository* const repo_;
  storage::ChangeNotifier* const changes_;
  const SweepServiceOptions options_;
  std::atomic<int> watches_{0};  // Watch calls running now
  absl::Mutex digests_mu_;
  // Resolved weights path → its digest. Submissions run on many RPC threads.
  std::map<std::string, CachedDigest> digests_ ABSL_GUARDED_BY(digests_mu_);
};

}  // namespace rib::service

#endif  // RIB_SERVER_SERVICE_SWEEP_SERVICE_H_
