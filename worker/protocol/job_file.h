// The job file: everything a rank process needs to run its part of one attempt, written
// by the agent (RankExecutor) into the attempt's run folder and read by
// `rib-rank --job-file F` (worker/rank). It stays there for a person re-running a rank
// by hand. Line format, one field per line: "<key> <C-escaped value>"; unknown keys are
// errors (rib-worker and rib-rank are built and installed together).
#ifndef RIB_WORKER_PROTOCOL_JOB_FILE_H_
#define RIB_WORKER_PROTOCOL_JOB_FILE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rib::protocol {

struct JobFile {
  std::string job_id;
  int attempt = 0;
  std::string hash;          // the job's configuration hash
  std::string spec_proto;    // serialized rib.v1.JobSpec
  std::string data_root;
  std::string artifact_root;
  // Absolute paths (all under artifact_root; the layout is spec/artifacts.h, with the
  // coordinator's hash):
  std::string resume_checkpoint;  // "" = start fresh
  std::string checkpoint_dir;     // <artifact_root>/checkpoints/<hash>/
  std::string weights_out;        // <artifact_root>/weights/<hash>.safetensors
  std::string extra_weights_out;  // <artifact_root>/weights/<hash>.extra.safetensors
  std::map<std::string, std::string> dependency_weights;  // method name → path
  std::string device_kind = "cpu";
  std::vector<int> device_ids;    // index = rank
  int threads = 1;                // intra-op threads per rank
  std::string log_level = "info";
  // The node's evaluation cache (worker/data/eval_cache.h): folder ("" = none) and
  // size bound in bytes (0 = its default). Written only when set.
  std::string eval_cache_root;
  int64_t eval_cache_max_bytes = 0;
};

absl::Status WriteJobFile(const JobFile& job, const std::string& path);
// INVALID_ARGUMENT naming the line for a malformed file; NOT_FOUND when missing.
absl::StatusOr<JobFile> ReadJobFile(const std::string& path);

}  // namespace rib::protocol

#endif  // RIB_WORKER_PROTOCOL_JOB_FILE_H_
