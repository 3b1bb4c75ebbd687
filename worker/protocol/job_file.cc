#include "worker/protocol/job_file.h"

#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/atomic_file.h"

namespace rib::protocol {
namespace {

void Put(std::ostream& out, absl::string_view key, absl::string_view value) {
  out << key << ' ' << absl::CEscape(value) << '\n';
}

}  // namespace

absl::Status WriteJobFile(const JobFile& job, const std::string& path) {
  std::ostringstream out;
  Put(out, "job_id", job.job_id);
  Put(out, "attempt", absl::StrCat(job.attempt));
  Put(out, "hash", job.hash);
  Put(out, "spec", absl::Base64Escape(job.spec_proto));
  Put(out, "data_root", job.data_root);
  Put(out, "artifact_root", job.artifact_root);
  Put(out, "resume_checkpoint", job.resume_checkpoint);
  Put(out, "checkpoint_dir", job.checkpoint_dir);
  Put(out, "weights_out", job.weights_out);
  Put(out, "extra_weights_out", job.extra_weights_out);
  for (const auto& [method, weights] : job.dependency_weights) {
    Put(out, "dependency", absl::StrCat(method, "=", weights));
  }
  Put(out, "device_kind", job.device_kind);
  Put(out, "device_ids", absl::StrJoin(job.device_ids, ","));
  Put(out, "threads", absl::StrCat(job.threads));
  Put(out, "log_level", job.log_level);
  if (!job.eval_cache_root.empty()) {
    Put(out, "eval_cache_root", job.eval_cache_root);
    Put(out, "eval_cache_max_bytes", absl::StrCat(job.eval_cache_max_bytes));
  }
  // A per-writer temporary name, renamed into place (common/atomic_file.h), so a rank
  // never reads half a file.
  absl::Status written = WriteFileAtomically(path, out.str());
  if (!written.ok()) {
    return absl::Status(written.code(),
                        absl::StrCat("cannot write job file: ", written.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobFile> ReadJobFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat("job file ", path, " not found"));
  JobFile job;
  std::string line;
  int number = 0;
  while (std::getline(f, line)) {
    ++number;
    if (line.empty()) continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("job file ", path, ":", number, ": ", why));
    };
    const size_t space = line.find(' ');
    if (space == std::string::npos) return bad("expected '<key> <value>'");
    const std::string key = line.substr(0, space);
    std::string value;
    std::string error;
    if (!absl::CUnescape(line.substr(space + 1), &value, &error)) return bad(error);
    auto integer = [&](int* out) -> absl::Status {
      if (!absl::SimpleAtoi(value, out)) return bad(absl::StrCat(key, " is not a number"));
      return absl::OkStatus();
    };
    if (key == "job_id") job.job_id = value;
    else if (key == "attempt") { if (auto s = integer(&job.attempt); !s.ok()) return s; }
    else if (key == "hash") job.hash = value;
    else if (key == "spec") {
      if (!absl::Base64Unescape(value, &job.spec_proto)) return bad("spec is not base64");
    } else if (key == "data_root") job.data_root = value;
    else if (key == "artifact_root") job.artifact_root = value;
    else if (key == "resume_checkpoint") job.resume_checkpoint = value;
    else if (key == "checkpoint_dir") job.checkpoint_dir = value;
    else if (key == "weights_out") job.weights_out = value;
    else if (key == "extra_weights_out")
      job.extra_weights_out = value;
    else if (key == "dependency") {
      std::pair<std::string, std::string> kv = absl::StrSplit(value, absl::MaxSplits('=', 1));
      if (kv.first.empty() || kv.second.empty()) return bad("expected dependency M=PATH");
      job.dependency_weights[kv.first] = kv.second;
    } else if (key == "device_kind") job.device_kind = value;
    else if (key == "device_ids") {
      job.device_ids.clear();
      for (absl::string_view id : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        int n = 0;
        if (!absl::SimpleAtoi(id, &n)) return bad("device_ids must be integers");
        job.device_ids.push_back(n);
      }
    } else if (key == "threads") { if (auto s = integer(&job.threads); !s.ok()) return s; }
    else if (key == "log_level") job.log_level = value;
    else if (key == "eval_cache_root") job.eval_cache_root = value;
    else if (key == "eval_cache_max_bytes") {
      if (!absl::SimpleAtoi(value, &job.eval_cache_max_bytes) || job.eval_cache_max_bytes < 0)
        return bad("eval_cache_max_bytes is not a size in bytes");
    }
    else return bad(absl::StrCat("unknown key '", key, "'"));
  }
  if (job.job_id.empty() || job.attempt <= 0 || job.spec_proto.empty() ||
      job.device_ids.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job file ", path, ": job_id, attempt, spec and device_ids are required"));
  }
  return job;
}

}  // namespace rib::protocol
