// Plain domain types of the coordinator: sweeps, jobs, results, workers, events.
// No protobuf, gRPC or SQL here (CONVENTIONS: Layering); rpc/ converts to and from
// rib.v1 messages, storage/ to and from rows.
#ifndef RIB_SERVER_DOMAIN_TYPES_H_
#define RIB_SERVER_DOMAIN_TYPES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/robustness.h"
#include "spec/job_spec.h"

namespace rib::domain {

// DESIGN §8. Names as stored in the database: "PENDING", "QUEUED", ...
enum class JobState {
  kPending,
  kQueued,
  kLeased,
  kRunning,
  kSucceeded,
  kFailed,
  kCancelled
};
inline constexpr JobState kAllJobStates[] = {
    JobState::kPending,   JobState::kQueued, JobState::kLeased,   JobState::kRunning,
    JobState::kSucceeded, JobState::kFailed, JobState::kCancelled};

enum class SweepState { kActive, kSucceeded, kFailed, kCancelled };

enum class WorkerState { kActive, kDraining, kLost };

const char* JobStateName(JobState s);
std::optional<JobState> ParseJobState(const std::string& name);
const char* SweepStateName(SweepState s);
std::optional<SweepState> ParseSweepState(const std::string& name);
const char* WorkerStateName(WorkerState s);
std::optional<WorkerState> ParseWorkerState(const std::string& name);

bool IsTerminal(JobState s);

// Identity (issue 13). Names as stored: "user", "admin", "worker".
enum class Role { kUser, kAdmin, kWorker };
const char* RoleName(Role r);
std::optional<Role> ParseRole(const std::string& name);

// Who makes a call: the user and role of its bearer token.
struct Principal {
  std::string user;
  Role role = Role::kUser;
  std::string token_id;
};

// A token as listed (never the token itself: only its SHA-256 is stored).
struct TokenInfo {
  std::string id;
  std::string user;
  Role role = Role::kUser;
  std::string created_by;
  absl::Time created_at;
  std::optional<absl::Time> revoked_at;
  std::string revoked_by;
};

// A user's device quota; nullopt devices = unlimited.
struct Quota {
  std::string user;
  std::optional<int> devices;
  int devices_in_use = 0;
};

struct Sweep {
  std::string id;
  std::string name;
  std::string owner;
  std::string cancelled_by;  // "" = not cancelled
  SweepState state = SweepState::kActive;
  int priority = 0;
  int max_attempts = 3;
  std::map<JobState, int> counts;  // only states with at least one job
  absl::Time created_at;
  std::string yaml;
  std::string client_request_id;
  std::string suite;
  std::vector<std::string> models;
  std::vector<std::string> methods;
  std::vector<std::string> finetune_datasets;
  std::vector<std::string> eval_datasets;
};

struct Job {
  std::string id;
  std::string sweep_id;
  std::string key;  // "model/method/dataset" or "model/pre"
  std::string hash;
  JobSpec spec;
  JobState state = JobState::kPending;
  int attempt = 0;
  int max_attempts = 3;
  std::string worker_id;
  std::string error;
  std::vector<std::string> depends_on;  // job ids
  std::string reused_from;              // job id whose results this one shows
  int priority = 0;
  std::string owner;
  double progress = 0;
  std::string last_checkpoint;
  std::string final_weights;
  absl::Time created_at;
  absl::Time updated_at;
  std::vector<ResultRow> results;  // filled by GetJob (through reused_from)
};

struct Device {
  std::string kind = "cpu";
  int count = 0;
  int64_t memory_bytes = 0;
};

struct Worker {
  std::string id;
  std::string name;
  WorkerState state = WorkerState::kActive;
  std::vector<Device> devices;
  std::vector<std::string> datasets;
  std::vector<std::string> labels;
  std::string principal;  // the token user that registered it
  absl::Time last_heartbeat;
  std::vector<std::string> running_jobs;
  int free_devices = 0;
};

struct JobProgress {
  int epoch = 0;
  int epochs = 0;
  int64_t step = 0;
  int64_t steps = 0;
  double loss = 0;
  double lr = 0;
};

// One entry of a sweep's event log (what WatchSweep streams).
struct SweepEvent {
  enum class Kind { kState, kProgress, kResult, kSweepState };
  int64_t id = 0;  // its position in the sweep's log: grows in commit order
  absl::Time time;
  std::string sweep_id;
  std::string job_id;
  Kind kind = Kind::kState;
  JobState job_state = JobState::kPending;
  SweepState sweep_state = SweepState::kActive;
  JobProgress progress;
  ResultRow result;
  std::string job_label;
  std::string error;
  std::string actor;  // the user whose call caused it; "" = the coordinator
};

// How an attempt ran (rib.v1.ReproRecord; issue 17 item 8): what built and ran it,
// where, and how fast. Sent by the worker with the attempt's `finished` event.
struct ReproRecord {
  std::string rib_version;
  std::string rib_commit;
  std::string torch_version;
  std::string cuda_version;  // "" without CUDA
  std::vector<std::string> devices;
  std::string host;
  int threads = 0;
  int intra_op_threads = 0;
  int inter_op_threads = 0;
  std::string blas_core;
  int world_size = 0;
  double wall_seconds = 0;
  double train_images_per_second = 0;  // 0: not measured
  double eval_images_per_second = 0;
};

// A report from a worker about one attempt of one job (rib.v1.JobEvent).
struct JobReport {
  enum class Kind { kStarted, kProgress, kResult, kCheckpoint, kFinished, kDistance };
  std::string job_id;
  int attempt = 0;
  // Proof of the lease: AcquireJob's secret for this attempt, and the token user of
  // the reporting worker (who must be the one that registered the lease's worker).
  std::string lease_secret;
  std::string reporter;
  // The event's place in its attempt (1, 2, ...; 0 = unsequenced): one at or below the
  // highest already written is a re-send and is ignored.
  int64_t seq = 0;
  Kind kind = Kind::kStarted;
  JobProgress progress;
  ResultRow result;
  DatasetDistanceRow distance;  // kDistance: an otdd job's result
  std::string checkpoint;
  // kFinished:
  bool ok = false;
  std::string error;
  std::string weights;
  // A failed attempt (ok == false): the status code of its error, which decides
  // whether it runs again (scheduling/retry_policy.h), and whether the worker released
  // the lease (drained, no room) rather than failed.
  absl::StatusCode code = absl::StatusCode::kUnknown;
  bool released = false;
  // How the attempt ran, when the worker sent it; sha256 of `weights`.
  std::optional<ReproRecord> repro;
  std::string weights_digest;
};

// One hand-out of a job to a worker, as `rib job` shows it (migration 0010).
struct Attempt {
  int attempt = 0;
  std::string worker_id;
  std::string worker_name;
  absl::Time leased_at;
  std::optional<absl::Time> started_at;
  std::optional<absl::Time> finished_at;  // nullopt: still holds its lease
  std::optional<JobState> end_state;      // the state the job entered when it ended
  std::string error;
  int code = 0;  // the reported failure's status code; 0 = none
  std::string weights;
  std::string weights_digest;
  std::vector<std::string> checkpoints;  // oldest first, the newest kMaxAttemptCheckpoints
  std::optional<ReproRecord> repro;
  std::vector<int> log_ranks;  // ranks with an uploaded log
};

// Bytes of one rank's log of one attempt, uploaded by its worker (AppendAttemptLog).
struct LogAppend {
  std::string job_id;
  int attempt = 0;
  int rank = 0;
  int64_t offset = 0;  // where `data` starts in the rank's log
  std::string data;
  // Proof, as for a JobReport: the lease's secret and the uploading token user.
  std::string lease_secret;
  std::string reporter;
};

// What the coordinator keeps of one rank's log: bytes [start_offset, end_offset).
struct LogChunk {
  int attempt = 0;
  int rank = 0;
  int64_t start_offset = 0;  // where `data` starts
  std::string data;
  int64_t end_offset = 0;    // the end of what is stored
  int64_t kept_from = 0;     // bytes before this were dropped (the cap)
  bool attempt_ended = false;
};

// What a worker is handed by AcquireJob.
struct Lease {
  std::string job_id;
  int attempt = 0;
  std::string hash;
  JobSpec spec;
  std::string resume_checkpoint;
  std::string secret;  // the lease's secret (only its SHA-256 is stored)
  // How long the job waited in QUEUED before this hand-out (its last state change to
  // QUEUED until now, by the repository's clock).
  absl::Duration queued_for = absl::ZeroDuration();
};

struct LeaseRef {
  std::string job_id;
  int attempt = 0;
};

// One cell of a robustness-inheritance matrix. For a dataset reported per subset
// (ImageNet-C), accuracy is the mean of the subset accuracies and the counts are sums.
struct MatrixCell {
  bool present = false;
  double accuracy = 0;
  int64_t correct = 0;
  int64_t total = 0;
  int64_t skipped = 0;
  double se = 0;  // binomial standard error of accuracy (common/robustness.h)
  double seed_sd = 0;  // sample sd over the matrix's seeds (2 or more)
};

struct MatrixRow {
  std::string finetune_dataset;   // "" for the baseline row
  // The state of the row's job (nullopt: the sweep has none). Only a SUCCEEDED job's
  // cells enter the metrics; another's are shown as partial, never as results.
  std::optional<JobState> job_state;
  std::vector<MatrixCell> cells;  // one per column
  std::optional<double> ri;
  std::optional<double> pretrain_change;
  // RI's standard error and 95% interval (NormalInterval95), present with ri.
  std::optional<double> ri_se;
  std::optional<Interval> ri_ci;
  std::optional<double> ri_seed_sd;  // with 2 or more seeds
  // OTDD(pre-training set, finetune_dataset) on the model's features: the sweep's
  // otdd job for (model, finetune_dataset), when it has succeeded.
  std::optional<double> otdd;
  // RI's bootstrap 95% interval over test images (BootstrapRiIntervals), when every
  // cell it needs has per-image bits; one seed only.
  std::optional<Interval> ri_bootstrap_ci;
};

// The matrix of one (model, method) of a sweep (DESIGN §7).
struct Matrix {
  std::string model;
  std::string method;
  std::vector<std::string> eval_datasets;  // columns
  std::string pretrain_dataset;            // "" when not among the columns
  MatrixRow baseline;
  std::vector<MatrixRow> rows;  // one per fine-tune dataset of the sweep
  std::optional<double> mri;
  std::optional<double> mean_ood;
  std::optional<double> mean_pretrain_change;
  std::optional<double> mri_se;
  std::optional<Interval> mri_ci;
  std::optional<double> mean_ood_se;
  // The pre-trained model's mean OOD accuracy over mean_ood's (row, column) pairs.
  std::optional<double> pre_mean_ood;
  std::optional<double> pre_mean_ood_se;
  // The seeds when the jobs ran with 2 or more (else empty); then every value above is
  // the mean over them, and these are the sample sds over them.
  std::vector<int64_t> seeds;
  std::optional<double> mri_seed_sd;
  std::optional<double> mean_ood_seed_sd;
  std::optional<double> pre_mean_ood_seed_sd;
  // OTDD vs the pre-training-set change over every (model, dataset) row of the
  // returned matrices with this method that has both (paper §5), with the
  // least-squares line; absent with fewer than 3 such rows (Correlate).
  std::optional<Correlation> otdd_correlation;
  std::optional<Line> otdd_line;
  std::optional<Interval> mri_bootstrap_ci;  // as MatrixRow::ri_bootstrap_ci
};

}  // namespace rib::domain

#endif  // RIB_SERVER_DOMAIN_TYPES_H_
