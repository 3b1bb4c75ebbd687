// Session's commands for debugging a job (issue 17 items 6 and 8): `rib job` (the job,
// its canonical spec and every attempt with its reproducibility record) and `rib logs`
// (an attempt's rank log, as its worker uploaded it to the coordinator).
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "client/session.h"
#include "client/watch.h"
#include "common/json_reader.h"
#include "common/status_macros.h"

namespace rib::client::internal {
namespace {

ListingCell SecondsCell(double seconds, const char* unit) {
  if (seconds <= 0) return ListingCell{"-", JsonValue::Null()};
  return ListingCell{absl::StrFormat("%.1f%s", seconds, unit),
                     JsonValue::Number(seconds)};
}

ListingCell OptionalIntCell(int64_t n) {
  if (n <= 0) return ListingCell{"-", JsonValue::Null()};
  return IntCell(n);
}

// One line of the table's reproducibility notes.
std::string ReproLine(const v1::Attempt& a) {
  const v1::ReproRecord& r = a.repro();
  std::vector<std::string> parts = {
      absl::StrCat("rib ", r.rib_version(), " (", r.rib_commit(), ")"),
      absl::StrCat("LibTorch ", r.torch_version()),
      absl::StrCat("CUDA ", r.cuda_version().empty() ? "no" : r.cuda_version()),
      absl::StrCat("host ", r.host()),
      absl::StrCat(r.world_size(), " rank(s) on ", absl::StrJoin(r.devices(), ", ")),
      absl::StrCat("threads ", r.threads(), " (intra-op ", r.intra_op_threads(),
                   ", inter-op ", r.inter_op_threads(), ", BLAS ",
                   r.blas_core().empty() ? "-" : r.blas_core(), ")"),
      absl::StrFormat("wall %.1f s", r.wall_seconds())};
  if (r.train_images_per_second() > 0) {
    parts.push_back(absl::StrFormat("train %.1f img/s", r.train_images_per_second()));
  }
  if (r.eval_images_per_second() > 0) {
    parts.push_back(absl::StrFormat("eval %.1f img/s", r.eval_images_per_second()));
  }
  return absl::StrCat("attempt ", a.attempt(), ": ", absl::StrJoin(parts, ", "));
}

}  // namespace

const std::vector<std::string>& ReproKeys() {
  static const auto* keys = new std::vector<std::string>{"rib_version",
                                                         "rib_commit",
                                                         "torch_version",
                                                         "cuda_version",
                                                         "host",
                                                         "devices",
                                                         "world_size",
                                                         "threads",
                                                         "intra_op_threads",
                                                         "inter_op_threads",
                                                         "blas_core",
                                                         "wall_seconds",
                                                         "train_images_per_second",
                                                         "eval_images_per_second"};
  return *keys;
}

std::vector<ListingCell> ReproCells(const v1::ReproRecord* r) {
  if (r == nullptr) {
    return std::vector<ListingCell>(ReproKeys().size(),
                                    ListingCell{"-", JsonValue::Null()});
  }
  return {TextCell(r->rib_version()),
          TextCell(r->rib_commit()),
          TextCell(r->torch_version()),
          TextCell(r->cuda_version()),
          TextCell(r->host()),
          TextCell(absl::StrJoin(r->devices(), "; ")),
          IntCell(r->world_size()),
          IntCell(r->threads()),
          IntCell(r->intra_op_threads()),
          IntCell(r->inter_op_threads()),
          TextCell(r->blas_core()),
          SecondsCell(r->wall_seconds(), " s"),
          SecondsCell(r->train_images_per_second(), ""),
          SecondsCell(r->eval_images_per_second(), "")};
}

const v1::Attempt* ResultAttempt(const v1::JobDetail& detail) {
  const v1::Attempt* best = nullptr;
  for (const v1::Attempt& a : detail.attempts()) {
    if (a.end_state() == v1::JOB_STATE_SUCCEEDED) best = &a;
  }
  if (best == nullptr && detail.attempts_size() > 0) {
    best = &detail.attempts(detail.attempts_size() - 1);
  }
  return best;
}

absl::StatusOr<int> Session::Job(const std::string& job_id, const ParsedArgs& args) {
  RIB_ASSIGN_OR_RETURN(const OutputFormat format, ParseOutputFormat(args.Get("output")));
  v1::DescribeJobRequest request;
  request.set_job_id(job_id);
  v1::JobDetail detail;
  RIB_RETURN_IF_ERROR(
      Unary(&v1::Coordinator::StubInterface::DescribeJob, request, &detail));
  const v1::Job& job = detail.job();

  Listing attempts;
  attempts.keys = {"attempt",    "worker",      "worker_name",    "leased_at",
                   "started_at", "finished_at", "end_state",      "code",
                   "error",      "weights",     "weights_digest", "checkpoints",
                   "log_ranks"};
  attempts.titles = {"ATTEMPT", "WORKER", "", "LEASED", "STARTED", "FINISHED", "END",
                     "CODE",    "ERROR",  "", "",       "",        "LOGS"};
  for (const std::string& k : ReproKeys()) {
    attempts.keys.push_back(k);
    attempts.titles.push_back("");  // the table shows them as one line per attempt
  }
  attempts.empty_table = "no attempts recorded";
  for (const v1::Attempt& a : detail.attempts()) {
    std::vector<std::string> ranks;
    JsonValue rank_values = JsonValue::Array();
    for (int r : a.log_ranks()) {
      ranks.push_back(absl::StrCat(r));
      rank_values.Append(JsonValue::Int(r));
    }
    const std::string worker =
        a.worker_name().empty() ? a.worker_id() : absl::StrCat(a.worker_name());
    std::vector<ListingCell> row = {
        IntCell(a.attempt()),
        ListingCell{worker.empty() ? "-" : worker, JsonValue::String(a.worker_id())},
        TextCell(a.worker_name()),
        TimestampCell(a.leased_at()),
        TimestampCell(a.started_at()),
        TimestampCell(a.finished_at()),
        a.end_state() == v1::JOB_STATE_UNSPECIFIED
            ? ListingCell{"(running)", JsonValue::Null()}
            : TextCell(JobStateName(a.end_state())),
        OptionalIntCell(a.code()),
        ListingCell{a.error().empty() ? "-" : OneLine(a.error()),
                    JsonValue::String(a.error())},
        TextCell(a.weights()),
        TextCell(a.weights_digest()),
        TextCell(absl::StrJoin(a.checkpoints(), "; ")),
        ListingCell{ranks.empty() ? "-" : absl::StrJoin(ranks, ","), rank_values}};
    for (ListingCell& c : ReproCells(a.has_repro() ? &a.repro() : nullptr)) {
      row.push_back(std::move(c));
    }
    attempts.rows.push_back(std::move(row));
  }

  if (format == OutputFormat::kCsv) {
    out() << FormatListing(attempts, format);
    return kExitOk;
  }
  absl::StatusOr<JsonValue> spec = ParseJson(detail.spec_json());
  if (format == OutputFormat::kJson) {
    JsonValue o = JsonValue::Object();
    o.Set("job", JsonValue::String(job.id()));
    o.Set("sweep", JsonValue::String(job.sweep_id()));
    o.Set("label", JsonValue::String(JobLabel(job)));
    o.Set("state", JsonValue::String(JobStateName(job.state())));
    o.Set("attempt", JsonValue::Int(job.attempt()));
    o.Set("max_attempts", JsonValue::Int(job.max_attempts()));
    o.Set("worker", JsonValue::String(job.worker_id()));
    o.Set("error", JsonValue::String(job.error()));
    o.Set("hash", JsonValue::String(job.hash()));
    o.Set("owner", JsonValue::String(job.owner()));
    o.Set("reused", JsonValue::Bool(job.reused()));
    o.Set("spec", spec.ok() ? *spec : JsonValue::String(detail.spec_json()));
    o.Set("attempts", ListingJson(attempts));
    JsonWriteOptions options;
    options.indent = 2;
    out() << WriteJson(o, options) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> head = {
      {"job", job.id()},
      {"sweep", job.sweep_id()},
      {"label", JobLabel(job)},
      {"state", absl::StrCat(JobStateName(job.state()), " (attempt ", job.attempt(),
                             " of ", job.max_attempts(), ")")},
      {"worker", job.worker_id().empty() ? "-" : job.worker_id()},
      {"owner", job.owner()},
      {"hash", job.hash()}};
  if (job.reused()) head.push_back({"reused", "yes: the attempts below computed it"});
  if (!job.error().empty()) head.push_back({"error", OneLine(job.error())});
  head.push_back({"spec", detail.spec_json()});
  out() << Columns(head) << "\n" << FormatListing(attempts, format);
  for (const v1::Attempt& a : detail.attempts()) {
    if (!a.weights().empty()) {
      out() << "attempt " << a.attempt() << ": weights " << a.weights()
            << (a.weights_digest().empty() ? "" : " sha256 ") << a.weights_digest()
            << "\n";
    }
    if (a.checkpoints_size() > 0) {
      out() << "attempt " << a.attempt() << ": checkpoints "
            << absl::StrJoin(a.checkpoints(), ", ") << "\n";
    }
    if (a.has_repro()) out() << ReproLine(a) << "\n";
  }
  return kExitOk;
}

absl::StatusOr<int> Session::Logs(const std::string& job_id, const ParsedArgs& args) {
  v1::GetAttemptLogRequest request;
  request.set_job_id(job_id);
  for (const auto& [flag, setter] :
       std::vector<std::pair<const char*, void (v1::GetAttemptLogRequest::*)(int32_t)>>{
           {"attempt", &v1::GetAttemptLogRequest::set_attempt},
           {"rank", &v1::GetAttemptLogRequest::set_rank}}) {
    if (!args.Has(flag)) continue;
    int value = 0;
    if (!absl::SimpleAtoi(*args.Get(flag), &value) || value < (flag[0] == 'a' ? 1 : 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, ": '", *args.Get(flag), "' is not ",
          flag[0] == 'a' ? "an attempt number (1, 2, ...)" : "a rank (0, 1, ...)"));
    }
    (request.*setter)(value);
  }
  const bool follow = args.Has("follow");
  bool told_dropped = false;
  while (true) {
    v1::AttemptLog log;
    RIB_RETURN_IF_ERROR(
        Unary(&v1::Coordinator::StubInterface::GetAttemptLog, request, &log));
    // Follow the attempt this first answer named, even when the job gets another.
    request.set_attempt(log.attempt());
    if (!told_dropped && log.start_offset() > request.offset()) {
      *io_.err << "rib: logs: the first " << log.start_offset()
               << " bytes of this log are gone (the coordinator keeps the last 1 MiB)\n";
    }
    told_dropped = true;
    out() << log.data();
    const int64_t next = log.start_offset() + static_cast<int64_t>(log.data().size());
    request.set_offset(next);
    if (next < log.end_offset()) continue;  // more stored than one answer carries
    out().flush();
    if (!follow || log.attempt_ended()) {
      // One more read after the end: the worker uploads the tail as the ranks exit.
      if (follow && log.attempt_ended() && !ended_once_) {
        ended_once_ = true;
        continue;
      }
      return kExitOk;
    }
    absl::SleepFor(options_.log_follow_poll);
  }
}

absl::StatusOr<int> Session::Plan(const ParsedArgs& args) {
  RIB_ASSIGN_OR_RETURN(const OutputFormat format, ParseOutputFormat(args.Get("output")));
  RIB_ASSIGN_OR_RETURN(const v1::SubmitSweepRequest request, SweepRequest(args));
  v1::SweepPlan plan;
  RIB_RETURN_IF_ERROR(Unary(&v1::Coordinator::StubInterface::PlanSweep, request, &plan));
  Listing listing;
  listing.keys = {"job",         "hash",       "reused_from", "datasets", "devices",
                  "device_kind", "depends_on", "workers",     "why_not"};
  listing.titles = {"JOB", "HASH", "REUSE", "DATASETS", "DEVICES", "", "", "WORKERS", ""};
  listing.empty_table = "no jobs";
  auto strings = [](const auto& list) {
    return JsonValue::StringArray({list.begin(), list.end()});
  };
  for (const v1::PlannedJob& j : plan.jobs()) {
    const std::string kind = j.device_kind().empty() ? "any" : j.device_kind();
    std::string workers = absl::StrJoin(j.workers(), ",");
    if (j.workers().empty()) {
      workers = absl::StrCat("none: ", absl::StrJoin(j.why_not(), "; "));
    }
    listing.rows.push_back(
        {TextCell(j.key()),
         ListingCell{j.hash().substr(0, 12), JsonValue::String(j.hash())},
         ListingCell{j.reused_from().empty() ? "new" : "reused " + j.reused_from(),
                     JsonValue::String(j.reused_from())},
         ListingCell{absl::StrJoin(j.datasets(), ","), strings(j.datasets())},
         ListingCell{absl::StrCat(j.devices(), " ", kind), JsonValue::Int(j.devices())},
         TextCell(j.device_kind()), ListingCell{"", strings(j.depends_on())},
         ListingCell{workers, strings(j.workers())},
         ListingCell{"", strings(j.why_not())}});
  }
  out() << FormatListing(listing, format);
  if (format == OutputFormat::kTable) {
    out() << "sweep '" << plan.name() << "' (not submitted): " << plan.jobs_size()
          << " jobs, " << plan.jobs_new() << " new, " << plan.jobs_reused() << " reused; "
          << plan.jobs_unrunnable() << " that no registered worker can run\n";
  }
  return kExitOk;
}

}  // namespace rib::client::internal
