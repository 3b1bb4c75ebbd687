#include "server/storage/postgres/pg_rows.h"

#include <optional>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/storage/postgres/pg_util.h"
#include "spec/job_json.h"

namespace rib::storage::pg {

using domain::SweepEvent;

const char kJobColumns[] =
    "j.id, j.sweep_id, j.key, j.hash, j.spec::text, j.state, j.attempt, j.max_attempts,"
    " COALESCE(j.worker_id, ''), j.error, COALESCE(j.reused_from, ''), j.priority,"
    " j.owner, j.progress, j.last_checkpoint, j.final_weights,"
    " (extract(epoch from j.created_at) * 1000000)::bigint,"
    " (extract(epoch from j.updated_at) * 1000000)::bigint,"
    " COALESCE((SELECT string_agg(d.depends_on, chr(31) ORDER BY x.seq) FROM job_deps d"
    "   JOIN jobs x ON x.id = d.depends_on WHERE d.job_id = j.id), '')";

const char kSweepColumns[] =
    "s.id, s.name, s.owner, s.state, s.priority, s.max_attempts,"
    " (extract(epoch from s.created_at) * 1000000)::bigint, s.yaml,"
    " COALESCE(s.client_request_id, ''), s.suite,"
    " array_to_string(s.models, chr(31)), array_to_string(s.methods, chr(31)),"
    " array_to_string(s.finetune_datasets, chr(31)),"
    " array_to_string(s.eval_datasets, chr(31)), s.seq, s.cancelled_by";

// running_jobs: the jobs whose lease the worker holds ($1 = the lease-holding states).
const char kWorkerColumns[] =
    "w.id, w.name, w.state, array_to_string(w.device_kinds, chr(31)),"
    " array_to_string(w.device_counts, chr(31)), array_to_string(w.device_memories, "
    "chr(31)),"
    " array_to_string(w.datasets, chr(31)), array_to_string(w.labels, chr(31)),"
    " (extract(epoch from w.last_heartbeat) * 1000000)::bigint, w.free_devices,"
    " COALESCE((SELECT string_agg(j.id, chr(31) ORDER BY j.seq) FROM jobs j"
    "   WHERE j.worker_id = w.id AND j.state = ANY($1::text[])), ''), w.principal";

const char kEventColumns[] =
    "seq, (extract(epoch from time) * 1000000)::bigint, job_id, kind, job_state,"
    " sweep_state, job_label, error, epoch, epochs, step, steps, loss, lr, dataset,"
    " subset, correct, total, skipped, actor";

namespace {

template <typename T>
absl::StatusOr<T> Stored(std::optional<T> parsed, const char* column,
                         const std::string& name, const std::string& what) {
  if (parsed.has_value()) return *parsed;
  return absl::DataLossError(
      absl::StrCat(what, ": stored ", column, " '", name, "' is not one rib knows"));
}

}  // namespace

absl::StatusOr<domain::JobState> StoredJobState(const std::string& name,
                                                const std::string& what) {
  return Stored(domain::ParseJobState(name), "job state", name, what);
}

absl::StatusOr<domain::Job> RowToJob(const pqxx::row& r) {
  domain::Job j;
  j.id = r[0].as<std::string>();
  const std::string what = absl::StrCat("job ", j.id);
  j.sweep_id = r[1].as<std::string>();
  j.key = r[2].as<std::string>();
  j.hash = r[3].as<std::string>();
  absl::StatusOr<JobSpec> spec = rib::spec::JobSpecFromJson(r[4].as<std::string>());
  if (!spec.ok()) {
    return absl::DataLossError(absl::StrCat(what, ": ", spec.status().message()));
  }
  j.spec = *std::move(spec);
  RIB_ASSIGN_OR_RETURN(j.state, StoredJobState(r[5].as<std::string>(), what));
  j.attempt = r[6].as<int>();
  j.max_attempts = r[7].as<int>();
  j.worker_id = r[8].as<std::string>();
  j.error = r[9].as<std::string>();
  j.reused_from = r[10].as<std::string>();
  j.priority = r[11].as<int>();
  j.owner = r[12].as<std::string>();
  j.progress = r[13].as<double>();
  j.last_checkpoint = r[14].as<std::string>();
  j.final_weights = r[15].as<std::string>();
  j.created_at = TimeFromMicros(r[16].as<int64_t>());
  j.updated_at = TimeFromMicros(r[17].as<int64_t>());
  j.depends_on = SplitUnitSeparated(r[18].as<std::string>());
  return j;
}

absl::StatusOr<domain::Sweep> RowToSweep(const pqxx::row& r) {
  domain::Sweep s;
  s.id = r[0].as<std::string>();
  s.name = r[1].as<std::string>();
  s.owner = r[2].as<std::string>();
  const std::string state = r[3].as<std::string>();
  RIB_ASSIGN_OR_RETURN(s.state, Stored(domain::ParseSweepState(state), "sweep state",
                                       state, absl::StrCat("sweep ", s.id)));
  s.priority = r[4].as<int>();
  s.max_attempts = r[5].as<int>();
  s.created_at = TimeFromMicros(r[6].as<int64_t>());
  s.yaml = r[7].as<std::string>();
  s.client_request_id = r[8].as<std::string>();
  s.suite = r[9].as<std::string>();
  s.models = SplitUnitSeparated(r[10].as<std::string>());
  s.methods = SplitUnitSeparated(r[11].as<std::string>());
  s.finetune_datasets = SplitUnitSeparated(r[12].as<std::string>());
  s.eval_datasets = SplitUnitSeparated(r[13].as<std::string>());
  s.cancelled_by = r[15].as<std::string>();
  return s;
}

absl::StatusOr<domain::Worker> RowToWorker(const pqxx::row& r) {
  domain::Worker w;
  w.id = r[0].as<std::string>();
  const std::string what = absl::StrCat("worker ", w.id);
  const std::string state = r[2].as<std::string>();
  RIB_ASSIGN_OR_RETURN(
      w.state, Stored(domain::ParseWorkerState(state), "worker state", state, what));
  w.name = r[1].as<std::string>();
  const std::vector<std::string> kinds = SplitUnitSeparated(r[3].as<std::string>());
  const std::vector<std::string> counts = SplitUnitSeparated(r[4].as<std::string>());
  const std::vector<std::string> memories = SplitUnitSeparated(r[5].as<std::string>());
  if (counts.size() != kinds.size() || memories.size() != kinds.size()) {
    return absl::DataLossError(
        absl::StrCat(what, ": ", kinds.size(), " device kinds but ", counts.size(),
                     " counts and ", memories.size(), " memory sizes"));
  }
  for (size_t i = 0; i < kinds.size(); ++i) {
    domain::Device d;
    d.kind = kinds[i];
    d.count = std::stoi(counts[i]);
    d.memory_bytes = std::stoll(memories[i]);
    w.devices.push_back(std::move(d));
  }
  w.datasets = SplitUnitSeparated(r[6].as<std::string>());
  w.labels = SplitUnitSeparated(r[7].as<std::string>());
  w.last_heartbeat = TimeFromMicros(r[8].as<int64_t>());
  w.free_devices = r[9].as<int>();
  w.running_jobs = SplitUnitSeparated(r[10].as<std::string>());
  w.principal = r[11].as<std::string>();
  return w;
}

const char* EventKindName(SweepEvent::Kind kind) {
  switch (kind) {
    case SweepEvent::Kind::kState:
      return "state";
    case SweepEvent::Kind::kProgress:
      return "progress";
    case SweepEvent::Kind::kResult:
      return "result";
    case SweepEvent::Kind::kSweepState:
      return "sweep_state";
  }
  return "state";
}

std::string BitsParam(const std::string& bits) { return absl::BytesToHexString(bits); }

std::string BitsFromHex(const pqxx::field& hex) {
  return hex.is_null() ? std::string() : absl::HexStringToBytes(hex.as<std::string>());
}

ResultRow RowToAccuracy(const pqxx::row& r, int c) {
  ResultRow a;
  a.dataset = r[c].as<std::string>();
  a.subset = r[c + 1].as<std::string>();
  a.correct = r[c + 2].as<int64_t>();
  a.total = r[c + 3].as<int64_t>();
  a.skipped = r[c + 4].as<int64_t>();
  return a;
}

absl::StatusOr<SweepEvent> RowToEvent(const pqxx::row& r, const std::string& sweep_id) {
  SweepEvent e;
  e.id = r[0].as<int64_t>();
  const std::string what = absl::StrCat("event ", e.id, " of sweep ", sweep_id);
  e.time = TimeFromMicros(r[1].as<int64_t>());
  e.sweep_id = sweep_id;
  e.job_id = r[2].as<std::string>();
  const std::string kind = r[3].as<std::string>();
  std::optional<SweepEvent::Kind> parsed;
  for (SweepEvent::Kind k : {SweepEvent::Kind::kState, SweepEvent::Kind::kProgress,
                             SweepEvent::Kind::kResult, SweepEvent::Kind::kSweepState}) {
    if (kind == EventKindName(k)) parsed = k;
  }
  RIB_ASSIGN_OR_RETURN(e.kind, Stored(parsed, "event kind", kind, what));
  if (e.kind == SweepEvent::Kind::kState) {
    RIB_ASSIGN_OR_RETURN(e.job_state, StoredJobState(r[4].as<std::string>(), what));
  }
  if (e.kind == SweepEvent::Kind::kSweepState) {
    const std::string state = r[5].as<std::string>();
    RIB_ASSIGN_OR_RETURN(e.sweep_state, Stored(domain::ParseSweepState(state),
                                               "sweep state", state, what));
  }
  e.job_label = r[6].as<std::string>();
  e.error = r[7].as<std::string>();
  e.progress.epoch = r[8].as<int>();
  e.progress.epochs = r[9].as<int>();
  e.progress.step = r[10].as<int64_t>();
  e.progress.steps = r[11].as<int64_t>();
  e.progress.loss = r[12].as<double>();
  e.progress.lr = r[13].as<double>();
  e.result = RowToAccuracy(r, 14);
  e.actor = r[19].as<std::string>();
  return e;
}

}  // namespace rib::storage::pg
