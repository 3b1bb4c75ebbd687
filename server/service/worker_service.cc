#include "server/service/worker_service.h"

#include <cmath>

#include <algorithm>
#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/paths.h"
#include "server/service/coordinator_metrics.h"
#include "common/status_macros.h"
#include "spec/suites.h"

namespace rib::service {

namespace {

LongPollOptions AcquirePoll(const WorkerServiceOptions& o) {
  LongPollOptions out;
  out.threads = o.acquire_threads;
  out.poll = o.poll;
  out.max_waiting = o.max_waiting_acquires;
  return out;
}

}  // namespace

WorkerService::WorkerService(storage::Repository* repo, storage::ChangeNotifier* changes,
                             WorkerServiceOptions options)
    : repo_(repo),
      changes_(changes),
      options_(options),
      acquires_(changes, storage::ChangeNotifier::Topic::kQueue, AcquirePoll(options)) {}

absl::StatusOr<Registration> WorkerService::Register(
    const storage::WorkerRegistration& reg) {
  // What a worker claims decides which jobs it is handed: bounded and checked here.
  RIB_RETURN_IF_ERROR(ValidateName(reg.name, "worker name"));
  if (reg.datasets.size() > kMaxWorkerDatasets || reg.labels.size() > kMaxWorkerLabels ||
      reg.devices.size() > kMaxWorkerDeviceKinds) {
    return absl::InvalidArgumentError(absl::StrCat(
        "worker '", reg.name, "' claims ", reg.datasets.size(), " datasets, ",
        reg.labels.size(), " labels and ", reg.devices.size(),
        " device kinds (at most ", kMaxWorkerDatasets, ", ", kMaxWorkerLabels, " and ",
        kMaxWorkerDeviceKinds, ")"));
  }
  for (const std::string& d : reg.datasets) {
    if (!spec::IsDatasetKey(d)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "worker '", reg.name, "' claims unknown dataset '", d.substr(0, 64), "'"));
    }
  }
  for (const std::string& l : reg.labels) RIB_RETURN_IF_ERROR(ValidateName(l, "label"));
  std::set<std::string> kinds;
  for (const domain::Device& d : reg.devices) {
    if (d.kind != "cpu" && d.kind != "cuda") {
      return absl::InvalidArgumentError(absl::StrCat(
          "worker '", reg.name, "': unknown device kind '", d.kind.substr(0, 32),
          "' (expected cpu or cuda)"));
    }
    if (!kinds.insert(d.kind).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("worker '", reg.name, "' lists device kind ", d.kind, " twice"));
    }
    if (d.count < 0 || d.count > kMaxWorkerDevices || d.memory_bytes < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("worker '", reg.name, "': ", d.kind, " count ", d.count,
                       " is outside 0..", kMaxWorkerDevices));
    }
  }
  RIB_ASSIGN_OR_RETURN(domain::Worker worker, repo_->RegisterWorker(reg));
  RIB_LOG(INFO) << "worker " << worker.id << " (" << reg.name << ") registered with "
                << reg.datasets.size() << " datasets";
  return Registration{std::move(worker), options_.heartbeat_interval,
                      options_.lease_timeout};
}

absl::StatusOr<storage::HeartbeatResult> WorkerService::Heartbeat(
    const std::string& principal, const std::string& worker_id,
    const std::vector<domain::LeaseRef>& leases, int free_devices) {
  return repo_->Heartbeat(principal, worker_id, leases, free_devices);
}

absl::StatusOr<int> WorkerService::ReleaseOrphanedLeases(
    const std::string& principal, const std::string& worker_id,
    const std::vector<domain::LeaseRef>& held) {
  if (held.size() > kMaxHeldLeases) {
    return absl::InvalidArgumentError(absl::StrCat(
        "held lists ", held.size(), " leases (at most ", kMaxHeldLeases, ")"));
  }
  return repo_->ReleaseOrphanedLeases(principal, worker_id, held);
}

absl::StatusOr<std::optional<domain::Lease>> WorkerService::TryAcquire(
    const AcquireRequest& req) {
  RIB_ASSIGN_OR_RETURN(
      std::optional<domain::Lease> lease,
      repo_->AcquireJob(req.principal, req.worker_id, req.free_devices, req.device_kind));
  if (lease.has_value()) {
    RIB_LOG(INFO) << "job " << lease->job_id << " attempt " << lease->attempt
                  << " leased to worker " << req.worker_id;
    if (options_.metrics != nullptr) options_.metrics->ObserveQueueWait(lease->queued_for);
  }
  return lease;
}

absl::StatusOr<std::optional<domain::Lease>> WorkerService::Acquire(
    const std::string& principal, const std::string& worker_id, int free_devices,
    const std::string& device_kind, absl::Duration wait,
    const std::function<bool()>& cancelled) {
  AcquireRequest req;
  req.principal = principal;
  req.worker_id = worker_id;
  req.free_devices = free_devices;
  req.device_kind = device_kind;
  req.wait = wait;
  auto flag = std::make_shared<std::atomic<bool>>(false);
  absl::Mutex mu;
  std::optional<absl::StatusOr<std::optional<domain::Lease>>> out;
  AcquireAsync(std::move(req), flag, [&](absl::StatusOr<std::optional<domain::Lease>> r) {
    absl::MutexLock l(&mu);
    out = std::move(r);
  });
  absl::MutexLock l(&mu);
  while (!mu.AwaitWithTimeout(absl::Condition(
                                  +[](std::optional<absl::StatusOr<std::optional<domain::Lease>>>*
                                          o) { return o->has_value(); },
                                  &out),
                              absl::Milliseconds(20))) {
    if (cancelled && cancelled()) flag->store(true);
  }
  return *std::move(out);
}

void WorkerService::AcquireAsync(AcquireRequest req,
                                 std::shared_ptr<const std::atomic<bool>> cancelled,
                                 AcquireDone done) {
  struct Call {
    AcquireRequest req;
    AcquireDone done;
  };
  auto call = std::make_shared<Call>(Call{std::move(req), std::move(done)});
  const absl::Time deadline = absl::Now() + std::min(call->req.wait, options_.max_wait);
  absl::Status added = acquires_.Add(
      [this, call]() -> bool {
        if (call->req.held.has_value()) {
          absl::StatusOr<int> released =
              ReleaseOrphanedLeases(call->req.principal, call->req.worker_id, *call->req.held);
          call->req.held.reset();
          if (!released.ok()) {
            call->done(released.status());
            return true;
          }
        }
        absl::StatusOr<std::optional<domain::Lease>> lease = TryAcquire(call->req);
        if (!lease.ok() || lease->has_value()) {
          call->done(std::move(lease));
          return true;
        }
        return false;
      },
      [call](bool) { call->done(std::optional<domain::Lease>()); }, deadline,
      std::move(cancelled));
  if (!added.ok()) call->done(added);
}

namespace {

absl::Status CheckReportPath(const std::string& path, absl::string_view what) {
  if (path.size() > kMaxReportPathBytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is ", path.size(),
                                                   " bytes long (at most ",
                                                   kMaxReportPathBytes, ")"));
  }
  const std::filesystem::path p(path);
  const std::string normal = p.lexically_normal().string();
  if (p.is_absolute() || normal == ".." || absl::StartsWith(normal, "../")) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " '", path, "' is not a path under the artifact root"));
  }
  return absl::OkStatus();
}

// The report as it may be stored, or why it may not.
// A reproducibility record is shown to users and exported: bounded like the rest.
absl::Status CheckRepro(const domain::ReproRecord& r) {
  for (const std::string* field : {&r.rib_version, &r.rib_commit, &r.torch_version,
                                   &r.cuda_version, &r.host, &r.blas_core}) {
    if (field->size() > kMaxReportRecordBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "finished: a field of the reproducibility record is ", field->size(),
          " bytes long (at most ", kMaxReportRecordBytes, ")"));
    }
  }
  if (r.devices.size() > static_cast<size_t>(kMaxWorkerDevices)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "finished: the reproducibility record names ", r.devices.size(),
        " devices (at most ", kMaxWorkerDevices, ")"));
  }
  for (const std::string& d : r.devices) {
    if (d.size() > kMaxReportRecordBytes) {
      return absl::InvalidArgumentError("finished: a device name is too long");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<domain::JobReport> CheckedReport(domain::JobReport report) {
  using Kind = domain::JobReport::Kind;
  switch (report.kind) {
    case Kind::kResult: {
      const ResultRow& r = report.result;
      if (!spec::IsDatasetKey(r.dataset)) {
        return absl::InvalidArgumentError(
            absl::StrCat("result: unknown dataset '", r.dataset.substr(0, 64), "'"));
      }
      if (r.subset.size() > kMaxReportSubsetBytes) {
        return absl::InvalidArgumentError(absl::StrCat(
            "result: subset is ", r.subset.size(), " bytes long (at most ",
            kMaxReportSubsetBytes, ")"));
      }
      if (r.correct < 0 || r.total < 0 || r.skipped < 0 || r.correct > r.total) {
        return absl::InvalidArgumentError(absl::StrCat(
            "result for ", r.dataset, ": counts correct=", r.correct, " total=", r.total,
            " skipped=", r.skipped, " (need 0 <= correct <= total, skipped >= 0)"));
      }
      break;
    }
    case Kind::kDistance: {
      const DatasetDistanceRow& d = report.distance;
      for (const std::string* key : {&d.source_dataset, &d.target_dataset}) {
        if (!spec::IsDatasetKey(*key)) {
          return absl::InvalidArgumentError(
              absl::StrCat("distance: unknown dataset '", key->substr(0, 64), "'"));
        }
      }
      if (!std::isfinite(d.distance) || !(d.epsilon > 0) || d.source_examples <= 0 ||
          d.target_examples <= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "distance ", d.source_dataset, " -> ", d.target_dataset, ": need a finite "
            "distance, epsilon > 0 and examples > 0 (got ", d.distance, ", ", d.epsilon,
            ", ", d.source_examples, ", ", d.target_examples, ")"));
      }
      break;
    }
    case Kind::kCheckpoint:
      RIB_RETURN_IF_ERROR(CheckReportPath(report.checkpoint, "checkpoint"));
      break;
    case Kind::kFinished:
      if (report.ok) RIB_RETURN_IF_ERROR(CheckReportPath(report.weights, "weights"));
      if (report.weights_digest.size() > kMaxReportRecordBytes) {
        return absl::InvalidArgumentError("finished: weights_digest is too long");
      }
      if (report.repro.has_value()) RIB_RETURN_IF_ERROR(CheckRepro(*report.repro));
      if (report.error.size() > kMaxReportErrorBytes) {
        const size_t cut = report.error.size() - kMaxReportErrorBytes;
        report.error.resize(kMaxReportErrorBytes);
        absl::StrAppend(&report.error, " ... (", cut, " more bytes cut)");
      }
      break;
    default:
      break;
  }
  return report;
}

}  // namespace

absl::Status WorkerService::Report(const domain::JobReport& unchecked) {
  RIB_ASSIGN_OR_RETURN(const domain::JobReport report, CheckedReport(unchecked));
  absl::Status s = repo_->Report(report);
  if (absl::IsFailedPrecondition(s) || absl::IsPermissionDenied(s)) {
    RIB_LOG(WARNING) << s.message();
  }
  return s;
}

absl::StatusOr<int64_t> WorkerService::AppendLog(const domain::LogAppend& append) {
  if (append.job_id.empty()) return absl::InvalidArgumentError("job_id is required");
  if (append.attempt < 1 || append.rank < 0 || append.rank >= kMaxWorkerDevices ||
      append.offset < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "log of job ", append.job_id, ": attempt ", append.attempt, ", rank ",
        append.rank, ", offset ", append.offset,
        " (need attempt >= 1, 0 <= rank < ", kMaxWorkerDevices, ", offset >= 0)"));
  }
  if (append.data.size() > kMaxLogAppendBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "log of job ", append.job_id, ": ", append.data.size(),
        " bytes in one call (at most ", kMaxLogAppendBytes, ")"));
  }
  absl::StatusOr<int64_t> end = repo_->AppendAttemptLog(append);
  if (absl::IsPermissionDenied(end.status())) RIB_LOG(WARNING) << end.status().message();
  return end;
}

absl::StatusOr<std::vector<domain::Worker>> WorkerService::ListWorkers() {
  return repo_->ListWorkers();
}

absl::StatusOr<domain::Worker> WorkerService::Drain(const std::string& worker_id) {
  return repo_->DrainWorker(worker_id);
}

absl::StatusOr<domain::Worker> WorkerService::Undrain(const std::string& worker_id) {
  return repo_->UndrainWorker(worker_id);
}

}  // namespace rib::service
