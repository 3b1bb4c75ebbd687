#include "server/service/sweep_service.h"

#include <sys/stat.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/status_macros.h"
#include "server/service/matrix.h"
#include "server/storage/repository_util.h"
#include "spec/job_json.h"
#include "spec/sweep.h"
#include "spec/weights_format.h"

namespace rib::service {

using domain::SweepEvent;
using spec::ExpandSweep;
using spec::ParseSweepYaml;
using spec::PlannedJob;
using spec::SuiteDownstreamDatasets;
using spec::SuiteEvalDatasets;
using spec::SweepSpec;

SweepService::SweepService(storage::Repository* repo, storage::ChangeNotifier* changes,
                           SweepServiceOptions options)
    : repo_(repo), changes_(changes), options_(std::move(options)) {}

absl::Status SweepService::CheckPriority(const std::string& sweep_name, int priority,
                                         bool may_exceed_cap) const {
  if (priority < -spec::kPriorityLimit || priority > spec::kPriorityLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("sweep '", sweep_name, "': priority ", priority, " is outside ",
                     -spec::kPriorityLimit, "..", spec::kPriorityLimit));
  }
  if (priority > options_.max_priority && !may_exceed_cap) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sweep '", sweep_name, "': priority ", priority,
        " is above the coordinator's limit of ", options_.max_priority,
        " for users (rib-coordinator --max-sweep-priority; admins may go higher)"));
  }
  return absl::OkStatus();
}

absl::Status SweepService::CheckLimits(const SweepSpec& spec,
                                       bool may_exceed_priority_cap) const {
  RIB_RETURN_IF_ERROR(CheckPriority(spec.name, spec.priority, may_exceed_priority_cap));
  RIB_ASSIGN_OR_RETURN(const int64_t jobs, spec::CountSweepJobs(spec));
  if (jobs > options_.max_jobs_per_sweep) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sweep '", spec.name, "' expands to ", jobs, " jobs, more than the ",
        options_.max_jobs_per_sweep,
        " the coordinator allows (rib-coordinator --max-jobs-per-sweep)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<storage::NewSweep> SweepService::Prepare(const SubmitRequest& request) {
  RIB_ASSIGN_OR_RETURN(SweepSpec spec, ParseSweepYaml(request.yaml, request.source_name));
  RIB_RETURN_IF_ERROR(CheckLimits(spec, request.may_exceed_priority_cap));
  // Hub models are read from the hub cache, all others from the artifact root.
  RIB_ASSIGN_OR_RETURN(const std::vector<spec::ResolvedHubModel> hub,
                       spec::ResolveHubModels(options_.hf_cache, &spec));
  std::map<std::string, std::string> hub_files;  // model name → path in the cache
  for (const spec::ResolvedHubModel& r : hub) hub_files[r.model] = r.snapshot.weights_path;
  for (ModelSpec& model : spec.models) {
    auto it = hub_files.find(model.name);
    RIB_ASSIGN_OR_RETURN(model.weights_digest,
                         it == hub_files.end()
                             ? DigestWeights(model, options_.artifact_root, model.weights)
                             : DigestWeights(model, options_.hf_cache, it->second));
  }
  RIB_ASSIGN_OR_RETURN(std::vector<PlannedJob> planned, ExpandSweep(spec));

  storage::NewSweep sweep;
  sweep.name = spec.name;
  sweep.owner = request.owner;
  sweep.priority = spec.priority;
  sweep.max_attempts = spec.max_attempts;
  sweep.yaml = request.yaml;
  sweep.client_request_id = request.client_request_id;
  sweep.force = request.force;
  sweep.suite = spec.suite;
  for (const ModelSpec& m : spec.models) sweep.models.push_back(m.name);
  for (const MethodSpec& m : spec.methods) sweep.methods.push_back(m.name);
  sweep.finetune_datasets = spec.finetune_datasets.empty()
                                ? SuiteDownstreamDatasets(spec.suite)
                                : spec.finetune_datasets;
  sweep.eval_datasets =
      spec.eval_datasets.empty() ? SuiteEvalDatasets(spec.suite) : spec.eval_datasets;
  for (PlannedJob& p : planned) {
    storage::NewJob job;
    job.key = std::move(p.key);
    job.hash = std::move(p.hash);
    job.spec = std::move(p.spec);
    job.depends_on = std::move(p.depends_on);
    job.device_kind = spec.device_kind;
    sweep.jobs.push_back(std::move(job));
  }
  return sweep;
}

absl::StatusOr<storage::SubmitResult> SweepService::Submit(const SubmitRequest& request) {
  RIB_ASSIGN_OR_RETURN(const storage::NewSweep sweep, Prepare(request));
  RIB_ASSIGN_OR_RETURN(storage::SubmitResult result, repo_->SubmitSweep(sweep));
  RIB_LOG(INFO) << (result.existing ? "resubmitted" : "submitted") << " sweep "
                << result.sweep_id << " '" << sweep.name << "': " << result.jobs_total
                << " jobs, " << result.jobs_reused << " reused";
  return result;
}

absl::StatusOr<SweepPlan> SweepService::Plan(const SubmitRequest& request) {
  RIB_ASSIGN_OR_RETURN(const storage::NewSweep sweep, Prepare(request));
  std::vector<std::string> hashes;
  for (const storage::NewJob& j : sweep.jobs) hashes.push_back(j.hash);
  std::map<std::string, std::string> reusable;
  if (!request.force) {
    RIB_ASSIGN_OR_RETURN(reusable, repo_->FindReusableJobs(hashes));
  }
  RIB_ASSIGN_OR_RETURN(const std::vector<domain::Worker> workers, repo_->ListWorkers());
  SweepPlan plan;
  plan.name = sweep.name;
  for (const storage::NewJob& j : sweep.jobs) {
    PlannedJobView v;
    v.key = j.key;
    v.hash = j.hash;
    v.depends_on = j.depends_on;
    if (auto it = reusable.find(j.hash); it != reusable.end()) v.reused_from = it->second;
    v.needs.datasets = storage::internal::JobDatasets(j.spec);
    v.needs.devices = j.spec.devices;
    v.needs.device_kind = j.device_kind;
    for (const domain::Worker& w : workers) {
      std::optional<std::string> why = domain::WhyCannotRun(w, v.needs);
      if (why) {
        v.why_not.push_back(absl::StrCat(w.name, ": ", *why));
      } else {
        v.workers.push_back(w.name);
      }
    }
    if (workers.empty()) v.why_not.push_back("no workers are registered");
    if (!v.reused_from.empty()) {
      ++plan.jobs_reused;
    } else {
      ++plan.jobs_new;
      if (v.workers.empty()) ++plan.jobs_unrunnable;
    }
    plan.jobs.push_back(std::move(v));
  }
  return plan;
}

absl::StatusOr<std::string> SweepService::DigestWeights(const ModelSpec& model,
                                                        const std::string& root,
                                                        const std::string& path) {
  constexpr absl::string_view refused =
      "; TorchScript is code that the workers run, refused unless the coordinator is "
      "started with --allow-torchscript";
  if (!options_.allow_torchscript && model.arch == spec::kTorchScriptArch) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", model.name, "': arch '", model.arch, "' loads a TorchScript module",
        refused));
  }
  absl::StatusOr<InputFile> file =
      OpenUnder(root, path, absl::StrCat("model '", model.name, "' weights"));
  if (!file.ok()) {
    // A missing file is a mistake in the sweep file (NOT_FOUND is for unknown ids).
    if (absl::IsNotFound(file.status())) {
      return absl::InvalidArgumentError(file.status().message());
    }
    return file.status();
  }
  if (!options_.allow_torchscript && spec::IsTorchScriptWeights(file->path(), file->fd())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", model.name, "': weights file '", model.weights,
        "' is a TorchScript archive", refused));
  }
  struct stat st;
  if (::fstat(file->fd(), &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("model '", model.name,
                                                   "': weights file '", model.weights,
                                                   "' cannot be read: fstat failed"));
  }
  const FileVersion version{static_cast<uint64_t>(st.st_dev),
                            static_cast<uint64_t>(st.st_ino),
                            static_cast<uint64_t>(st.st_size),
                            static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                                st.st_mtim.tv_nsec};
  {
    absl::MutexLock lock(&digests_mu_);
    auto it = digests_.find(file->path());
    if (it != digests_.end() && it->second.version == version) return it->second.sha256;
  }
  // Hashed without the lock: two submissions of a new file may both hash it.
  absl::StatusOr<std::string> digest = Sha256Fd(file->fd(), file->path());
  if (!digest.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("model '", model.name,
                                                   "': weights file '", model.weights,
                                                   "' cannot be read: ",
                                                   digest.status().message()));
  }
  // A file changed within the file system's timestamp granularity (a clock tick) of
  // this read could change again with the same size and mtime: like git's racy
  // entries, such a digest is not cached.
  const absl::Time mtime = absl::FromUnixNanos(version.mtime_ns);
  if (absl::Now() - mtime > kRacyWindow) {
    absl::MutexLock lock(&digests_mu_);
    if (digests_.size() >= kMaxCachedDigests) digests_.clear();
    digests_[file->path()] = {version, *digest};
  }
  return *std::move(digest);
}

absl::StatusOr<domain::Sweep> SweepService::Get(const std::string& sweep_id) {
  return repo_->GetSweep(sweep_id);
}

absl::StatusOr<storage::SweepList> SweepService::List(int page_size,
                                                      const std::string& page_token) {
  return repo_->ListSweeps(page_size, page_token);
}

absl::StatusOr<domain::Sweep> SweepService::Cancel(const std::string& sweep_id,
                                                   const std::string& actor) {
  return repo_->CancelSweep(sweep_id, actor);
}

absl::StatusOr<domain::Sweep> SweepService::Retry(const std::string& sweep_id,
                                                  const std::string& actor) {
  return repo_->RetrySweep(sweep_id, actor);
}

absl::StatusOr<domain::Sweep> SweepService::SetPriority(const std::string& sweep_id,
                                                        int priority,
                                                        bool may_exceed_cap) {
  RIB_ASSIGN_OR_RETURN(domain::Sweep sweep, repo_->GetSweep(sweep_id));
  RIB_RETURN_IF_ERROR(CheckPriority(sweep.name, priority, may_exceed_cap));
  return repo_->SetSweepPriority(sweep_id, priority);
}

absl::StatusOr<storage::JobList> SweepService::ListJobs(
    const storage::JobFilter& filter) {
  if (!filter.sweep_id.empty())
    RIB_RETURN_IF_ERROR(repo_->GetSweep(filter.sweep_id).status());
  return repo_->ListJobs(filter);
}

absl::StatusOr<domain::Job> SweepService::GetJob(const std::string& job_id) {
  return repo_->GetJob(job_id);
}

absl::StatusOr<JobDetail> SweepService::DescribeJob(const std::string& job_id) {
  JobDetail out;
  RIB_ASSIGN_OR_RETURN(out.job, repo_->GetJob(job_id));
  out.spec_json = spec::CanonicalJobJson(out.job.spec);
  RIB_ASSIGN_OR_RETURN(out.attempts, repo_->ListAttempts(job_id));
  return out;
}

absl::StatusOr<domain::LogChunk> SweepService::ReadLog(const std::string& job_id,
                                                       int attempt, int rank,
                                                       int64_t offset, int max_bytes) {
  if (attempt < 0 || rank < 0 || offset < 0 || max_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "log of job ", job_id, ": attempt ", attempt, ", rank ", rank, ", offset ",
        offset, ", max_bytes ", max_bytes, " (none may be negative)"));
  }
  if (max_bytes == 0 || max_bytes > kMaxLogReadBytes) max_bytes = kMaxLogReadBytes;
  return repo_->ReadAttemptLog(job_id, attempt, rank, offset, max_bytes);
}

absl::StatusOr<std::vector<domain::Matrix>> SweepService::GetMatrix(
    const std::string& sweep_id, const std::string& model, const std::string& method) {
  RIB_ASSIGN_OR_RETURN(domain::Sweep sweep, repo_->GetSweep(sweep_id));
  RIB_ASSIGN_OR_RETURN(std::vector<storage::MatrixJob> jobs,
                       repo_->GetMatrixJobs(sweep_id));
  RIB_ASSIGN_OR_RETURN(auto distances, repo_->ListDatasetDistances(sweep_id));
  for (storage::MatrixJob& j : jobs) {
    auto it = distances.find(j.job_id);
    if (it != distances.end()) j.distance = it->second;
  }
  return BuildMatrices(sweep, jobs, model, method);
}

absl::Status SweepService::Watch(const std::string& sweep_id, bool snapshot,
                                 const std::function<bool(const SweepEvent&)>& emit,
                                 const std::function<bool()>& cancelled) {
  // Counted for as long as this call runs (it holds a thread of the RPC server).
  struct Count {
    explicit Count(std::atomic<int>* n) : n(n), now(n->fetch_add(1) + 1) {}
    ~Count() { n->fetch_sub(1); }
    std::atomic<int>* n;
    const int now;
  } count(&watches_);
  if (count.now > options_.max_watches) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the coordinator serves at most ", options_.max_watches,
        " WatchSweep streams at once and all are open; retry later"));
  }
  constexpr int kBatch = 500;
  // Skip to the end of the log first, so the snapshot and the stream overlap rather
  // than leave a gap.
  RIB_ASSIGN_OR_RETURN(int64_t last_id, repo_->LastEventId(sweep_id));
  if (snapshot) {
    storage::JobFilter filter;
    filter.sweep_id = sweep_id;
    filter.page_size = 5000;
    do {
      RIB_ASSIGN_OR_RETURN(storage::JobList jobs, repo_->ListJobs(filter));
      for (const domain::Job& job : jobs.jobs) {
        SweepEvent e;
        e.time = job.updated_at;
        e.sweep_id = sweep_id;
        e.job_id = job.id;
        e.kind = SweepEvent::Kind::kState;
        e.job_state = job.state;
        e.job_label = job.key;
        e.error = job.error;
        if (!emit(e)) return absl::CancelledError("watcher went away");
      }
      filter.page_token = jobs.next_page_token;
    } while (!filter.page_token.empty());
  }
  for (;;) {
    if (cancelled()) return absl::CancelledError("watch cancelled");
    const uint64_t seen = changes_->Counter(storage::ChangeNotifier::Topic::kEvents);
    RIB_ASSIGN_OR_RETURN(std::vector<SweepEvent> events,
                         repo_->ListEvents(sweep_id, last_id, kBatch));
    for (const SweepEvent& e : events) {
      last_id = e.id;
      if (!emit(e)) return absl::CancelledError("watcher went away");
      if (e.kind == SweepEvent::Kind::kSweepState) return absl::OkStatus();
    }
    if (static_cast<int>(events.size()) == kBatch) continue;
    if (events.empty()) {
      // Terminal before we started watching (its sweep_state event is behind us).
      RIB_ASSIGN_OR_RETURN(domain::Sweep sweep, repo_->GetSweep(sweep_id));
      if (sweep.state != domain::SweepState::kActive) {
        // Events committed between the read above and GetSweep come first.
        RIB_ASSIGN_OR_RETURN(std::vector<SweepEvent> late,
                             repo_->ListEvents(sweep_id, last_id, 100'000));
        for (const SweepEvent& e : late) {
          last_id = e.id;
          if (!emit(e)) return absl::CancelledError("watcher went away");
          if (e.kind == SweepEvent::Kind::kSweepState) return absl::OkStatus();
        }
        SweepEvent e;
        e.time = absl::Now();
        e.sweep_id = sweep_id;
        e.kind = SweepEvent::Kind::kSweepState;
        e.sweep_state = sweep.state;
        emit(e);
        return absl::OkStatus();
      }
    }
    changes_->WaitForChange(storage::ChangeNotifier::Topic::kEvents, seen,
                            options_.watch_poll);
  }
}

}  // namespace rib::service
