#include "worker/agent/log_uploader.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "worker/agent/call_auth.h"

namespace rib::agent {

LogUploader::LogUploader(std::shared_ptr<grpc::Channel> channel, AttemptLease lease,
                         LogUploaderOptions options)
    : stub_(v1::WorkerApi::NewStub(std::move(channel))),
      lease_(std::move(lease)),
      options_(std::move(options)) {}

int64_t LogUploader::uploaded(int rank) const {
  auto it = offsets_.find(rank);
  return it == offsets_.end() ? 0 : it->second;
}

absl::Status LogUploader::Poll(const std::vector<std::string>& paths) {
  for (int rank = 0; rank < static_cast<int>(paths.size()); ++rank) {
    absl::Status s = UploadFile(rank, paths[rank]);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status LogUploader::UploadFile(int rank, const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::OkStatus();  // the rank has not written it yet
  const int64_t size = static_cast<int64_t>(in.tellg());
  int64_t offset = uploaded(rank);
  // What the coordinator would drop anyway is not sent.
  if (size - offset > kKeptLogBytes) offset = size - kKeptLogBytes;
  std::string buf;
  while (offset < size) {
    const int64_t n = std::min(kLogChunkBytes, size - offset);
    buf.resize(static_cast<size_t>(n));
    in.seekg(offset);
    if (!in.read(buf.data(), n)) {
      return absl::InternalError(absl::StrCat("cannot read ", path, " at ", offset));
    }
    v1::AppendAttemptLogRequest req;
    req.set_job_id(lease_.job_id);
    req.set_attempt(lease_.attempt);
    req.set_rank(rank);
    req.set_offset(offset);
    req.set_data(buf);
    req.set_lease_secret(lease_.secret);
    v1::AppendAttemptLogResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
    AuthorizeCall(&ctx, options_.token);
    absl::Status s = FromGrpcStatus(stub_->AppendAttemptLog(&ctx, req, &resp));
    if (!s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("uploading rank ", rank, "'s log of job ", lease_.job_id,
                                 ": ", s.message()));
    }
    // The coordinator's end: normally offset + n; after a restart of this agent's
    // count, wherever it already was.
    offset = resp.next_offset() > offset ? resp.next_offset() : offset + n;
    offsets_[rank] = offset;
  }
  return absl::OkStatus();
}

}  // namespace rib::agent
