#include "server/storage/postgres/pg_attempts.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/json.h"
#include "common/json_reader.h"
#include "common/status_macros.h"
#include "server/auth/credentials.h"
#include "server/storage/postgres/pg_rows.h"
#include "server/storage/postgres/pg_util.h"

namespace rib::storage::pg {
namespace {

std::optional<absl::Time> OptionalTime(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return TimeFromMicros(f.as<int64_t>());
}

std::string StringOf(const JsonValue& v, const char* key) {
  const JsonValue* m = v.Get(key);
  return m != nullptr && m->type == JsonValue::Type::kString ? m->text : "";
}

double NumberOf(const JsonValue& v, const char* key) {
  const JsonValue* m = v.Get(key);
  return m != nullptr && m->type == JsonValue::Type::kNumber ? m->number : 0;
}

}  // namespace

std::string ReproToJson(const domain::ReproRecord& r) {
  JsonValue v = JsonValue::Object();
  v.Set("rib_version", JsonValue::String(r.rib_version));
  v.Set("rib_commit", JsonValue::String(r.rib_commit));
  v.Set("torch_version", JsonValue::String(r.torch_version));
  v.Set("cuda_version", JsonValue::String(r.cuda_version));
  v.Set("devices", JsonValue::StringArray(r.devices));
  v.Set("host", JsonValue::String(r.host));
  v.Set("threads", JsonValue::Int(r.threads));
  v.Set("intra_op_threads", JsonValue::Int(r.intra_op_threads));
  v.Set("inter_op_threads", JsonValue::Int(r.inter_op_threads));
  v.Set("blas_core", JsonValue::String(r.blas_core));
  v.Set("world_size", JsonValue::Int(r.world_size));
  v.Set("wall_seconds", JsonValue::Number(r.wall_seconds));
  v.Set("train_images_per_second", JsonValue::Number(r.train_images_per_second));
  v.Set("eval_images_per_second", JsonValue::Number(r.eval_images_per_second));
  return WriteJson(v);
}

absl::StatusOr<domain::ReproRecord> ReproFromJson(const std::string& json) {
  absl::StatusOr<JsonValue> v = ParseJson(json);
  if (!v.ok() || v->type != JsonValue::Type::kObject) {
    return absl::DataLossError("a stored reproducibility record is not a JSON object");
  }
  domain::ReproRecord r;
  r.rib_version = StringOf(*v, "rib_version");
  r.rib_commit = StringOf(*v, "rib_commit");
  r.torch_version = StringOf(*v, "torch_version");
  r.cuda_version = StringOf(*v, "cuda_version");
  if (const JsonValue* d = v->Get("devices"); d != nullptr) {
    for (const JsonValue& e : d->array) r.devices.push_back(e.text);
  }
  r.host = StringOf(*v, "host");
  r.threads = static_cast<int>(NumberOf(*v, "threads"));
  r.intra_op_threads = static_cast<int>(NumberOf(*v, "intra_op_threads"));
  r.inter_op_threads = static_cast<int>(NumberOf(*v, "inter_op_threads"));
  r.blas_core = StringOf(*v, "blas_core");
  r.world_size = static_cast<int>(NumberOf(*v, "world_size"));
  r.wall_seconds = NumberOf(*v, "wall_seconds");
  r.train_images_per_second = NumberOf(*v, "train_images_per_second");
  r.eval_images_per_second = NumberOf(*v, "eval_images_per_second");
  return r;
}

void AddAttemptCheckpoint(pqxx::work& tx, const std::string& job_id, int attempt,
                          const std::string& path) {
  Exec(tx,
       "UPDATE attempts SET checkpoints ="
       " (checkpoints || $3::text)[greatest(1, cardinality(checkpoints) + 2 - $4):]"
       " WHERE job_id = $1 AND attempt = $2",
       job_id, attempt, path, kMaxAttemptCheckpoints);
}

void RecordAttemptFinish(pqxx::work& tx, const domain::JobReport& report) {
  Exec(tx,
       "UPDATE attempts SET code = $3, weights = $4, weights_digest = $5,"
       " repro = CASE WHEN $6 = '' THEN repro ELSE $6::jsonb END"
       " WHERE job_id = $1 AND attempt = $2",
       report.job_id, report.attempt, report.ok ? 0 : static_cast<int>(report.code),
       report.weights, report.weights_digest,
       report.repro.has_value() ? ReproToJson(*report.repro) : std::string());
}

absl::StatusOr<std::vector<domain::Attempt>> LoadAttempts(pqxx::work& tx,
                                                          const std::string& job_id) {
  std::vector<domain::Attempt> out;
  for (const auto& r :
       Exec(tx,
            "SELECT a.attempt, a.worker_id, COALESCE(w.name, ''),"
            " (extract(epoch from a.leased_at) * 1000000)::bigint,"
            " (extract(epoch from a.started_at) * 1000000)::bigint,"
            " (extract(epoch from a.finished_at) * 1000000)::bigint,"
            " a.end_state, a.error, a.code, a.weights, a.weights_digest,"
            " array_to_string(a.checkpoints, chr(31)), a.repro::text,"
            " COALESCE((SELECT string_agg(l.rank::text, ',' ORDER BY l.rank)"
            "   FROM attempt_logs l WHERE l.job_id = a.job_id AND l.attempt = "
            "a.attempt), '')"
            " FROM attempts a LEFT JOIN workers w ON w.id = a.worker_id"
            " WHERE a.job_id = $1 ORDER BY a.attempt",
            job_id)) {
    domain::Attempt a;
    a.attempt = r[0].as<int>();
    a.worker_id = r[1].as<std::string>();
    a.worker_name = r[2].as<std::string>();
    a.leased_at = TimeFromMicros(r[3].as<int64_t>());
    a.started_at = OptionalTime(r[4]);
    a.finished_at = OptionalTime(r[5]);
    const std::string what = absl::StrCat("attempt ", a.attempt, " of job ", job_id);
    if (const std::string end = r[6].as<std::string>(); !end.empty()) {
      RIB_ASSIGN_OR_RETURN(a.end_state, StoredJobState(end, what));
    }
    a.error = r[7].as<std::string>();
    a.code = r[8].as<int>();
    a.weights = r[9].as<std::string>();
    a.weights_digest = r[10].as<std::string>();
    a.checkpoints = SplitUnitSeparated(r[11].as<std::string>());
    if (!r[12].is_null()) {
      absl::StatusOr<domain::ReproRecord> repro = ReproFromJson(r[12].as<std::string>());
      if (!repro.ok()) return Annotate(repro.status(), what);
      a.repro = *std::move(repro);
    }
    for (absl::string_view rank :
         absl::StrSplit(r[13].as<std::string>(), ',', absl::SkipEmpty())) {
      int n = 0;
      if (absl::SimpleAtoi(rank, &n)) a.log_ranks.push_back(n);
    }
    out.push_back(std::move(a));
  }
  return out;
}

absl::StatusOr<int64_t> AppendAttemptLog(pqxx::work& tx, const domain::LogAppend& append,
                                         absl::Time now) {
  const std::string what =
      absl::StrCat("log of attempt ", append.attempt, " of job ", append.job_id);
  pqxx::result holder = Exec(
      tx,
      "SELECT a.lease_secret_hash, w.principal FROM attempts a"
      " LEFT JOIN workers w ON w.id = a.worker_id WHERE a.job_id = $1 AND a.attempt = $2",
      append.job_id, append.attempt);
  if (holder.empty()) {
    return absl::NotFoundError(absl::StrCat(what, ": no such attempt"));
  }
  if (holder[0][1].is_null() || holder[0][1].as<std::string>() != append.reporter) {
    return absl::PermissionDeniedError(
        absl::StrCat(what, " refused: the attempt is leased to another worker"));
  }
  if (holder[0][0].as<std::string>() != auth::TokenHash(append.lease_secret)) {
    return absl::PermissionDeniedError(absl::StrCat(
        what, " refused: its lease secret is not the attempt's (AcquireJob's)"));
  }
  pqxx::result row =
      Exec(tx,
           "SELECT end_offset FROM attempt_logs WHERE job_id = $1 AND attempt = $2"
           " AND rank = $3 FOR UPDATE",
           append.job_id, append.attempt, append.rank);
  const int64_t size = static_cast<int64_t>(append.data.size());
  if (!row.empty() && append.offset <= row[0][0].as<int64_t>()) {
    const int64_t end = row[0][0].as<int64_t>();
    // A re-send overlaps what is stored: only the new bytes are appended.
    const int64_t skip = std::min(end - append.offset, size);
    if (skip == size) return end;
    pqxx::row r = Exec1(
        tx,
        "UPDATE attempt_logs SET data = CASE WHEN length(data) + length(c.b) > $5"
        "   THEN substring(data || c.b from length(data) + length(c.b) - $5 + 1)"
        "   ELSE data || c.b END,"
        " end_offset = end_offset + length(c.b),"
        " start_offset = end_offset + length(c.b) - least(length(data) + length(c.b), "
        "$5),"
        " updated_at = $6::timestamptz"
        " FROM (SELECT decode($4, 'hex') AS b) c"
        " WHERE job_id = $1 AND attempt = $2 AND rank = $3 RETURNING end_offset",
        append.job_id, append.attempt, append.rank,
        absl::BytesToHexString(absl::string_view(append.data).substr(skip)),
        kMaxAttemptLogBytes, TimeParam(now));
    return r[0].as<int64_t>();
  }
  // The first bytes, or a gap (the worker skipped what outgrew the cap): the kept
  // window starts afresh at this chunk.
  const int64_t keep = std::min(size, kMaxAttemptLogBytes);
  const int64_t end = append.offset + size;
  Exec(tx,
       "INSERT INTO attempt_logs (job_id, attempt, rank, data, start_offset, end_offset,"
       " updated_at) VALUES ($1, $2, $3, decode($4, 'hex'), $5, $6, $7::timestamptz)"
       " ON CONFLICT (job_id, attempt, rank) DO UPDATE SET data = EXCLUDED.data,"
       " start_offset = EXCLUDED.start_offset, end_offset = EXCLUDED.end_offset,"
       " updated_at = EXCLUDED.updated_at",
       append.job_id, append.attempt, append.rank,
       absl::BytesToHexString(absl::string_view(append.data).substr(size - keep)),
       end - keep, end, TimeParam(now));
  return end;
}

absl::StatusOr<domain::LogChunk> ReadAttemptLog(pqxx::work& tx, const std::string& job_id,
                                                int attempt, int rank, int64_t offset,
                                                int max_bytes) {
  if (attempt <= 0) {
    pqxx::result j = Exec(tx, "SELECT attempt FROM jobs WHERE id = $1", job_id);
    if (j.empty()) return absl::NotFoundError(absl::StrCat("no job ", job_id));
    attempt = j[0][0].as<int>();
  }
  pqxx::result a = Exec(
      tx,
      "SELECT finished_at IS NOT NULL FROM attempts WHERE job_id = $1 AND attempt = $2",
      job_id, attempt);
  if (a.empty()) {
    if (Exec(tx, "SELECT 1 FROM jobs WHERE id = $1", job_id).empty()) {
      return absl::NotFoundError(absl::StrCat("no job ", job_id));
    }
    return absl::NotFoundError(absl::StrCat("job ", job_id, " has no attempt ", attempt,
                                            " (attempts are numbered from 1)"));
  }
  domain::LogChunk out;
  out.attempt = attempt;
  out.rank = rank;
  out.attempt_ended = a[0][0].as<bool>();
  pqxx::result w =
      Exec(tx,
           "SELECT start_offset, end_offset FROM attempt_logs WHERE job_id = $1"
           " AND attempt = $2 AND rank = $3",
           job_id, attempt, rank);
  if (w.empty()) return out;
  out.kept_from = w[0][0].as<int64_t>();
  out.end_offset = w[0][1].as<int64_t>();
  out.start_offset = std::clamp(offset, out.kept_from, out.end_offset);
  pqxx::row d =
      Exec1(tx,
            "SELECT encode(substring(data from $4::integer for $5::integer), 'hex')"
            " FROM attempt_logs WHERE job_id = $1 AND attempt = $2 AND rank = $3",
            job_id, attempt, rank, out.start_offset - out.kept_from + 1, max_bytes);
  out.data = absl::HexStringToBytes(d[0].as<std::string>());
  return out;
}

}  // namespace rib::storage::pg
