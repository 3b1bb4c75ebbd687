#include "worker/agent/event_stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "worker/agent/call_auth.h"

namespace rib::agent {
namespace {

bool IsFencedOut(const absl::Status& s) {
  return s.code() == absl::StatusCode::kFailedPrecondition ||
         s.code() == absl::StatusCode::kNotFound ||
         s.code() == absl::StatusCode::kInvalidArgument ||
         s.code() == absl::StatusCode::kPermissionDenied ||
         s.code() == absl::StatusCode::kUnauthenticated;
}

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

EventStream::EventStream(std::shared_ptr<grpc::Channel> channel, AttemptLease lease,
                         EventStreamOptions options)
    : stub_(v1::WorkerApi::NewStub(channel)),
      lease_(std::move(lease)),
      options_(std::move(options)) {}

EventStream::~EventStream() { Close().IgnoreError(); }

absl::Status EventStream::OpenLocked() {
  context_ = std::make_unique<grpc::ClientContext>();
  context_->set_deadline(absl::ToChronoTime(absl::Now() + options_.stream_deadline));
  AuthorizeCall(context_.get(), options_.token);
  response_.Clear();
  sent_on_stream_.clear();
  writer_ = stub_->ReportResults(context_.get(), &response_);
  return absl::OkStatus();
}

absl::Status EventStream::FinishLocked() {
  if (writer_ == nullptr) return absl::OkStatus();
  writer_->WritesDone();
  absl::Status s = FromGrpcStatus(writer_->Finish());
  writer_.reset();
  context_.reset();
  return s;
}

bool EventStream::WriteLocked(const v1::JobEvent& event) {
  if (writer_ == nullptr) OpenLocked().IgnoreError();
  if (!writer_->Write(event)) return false;
  sent_on_stream_.push_back(event);
  return true;
}

absl::Status EventStream::Send(v1::JobEvent event) {
  absl::MutexLock lock(&mu_);
  if (!fatal_.ok()) return fatal_;
  if (closed_) return absl::FailedPreconditionError("event stream already closed");
  event.set_job_id(lease_.job_id);
  event.set_attempt(lease_.attempt);
  event.set_lease_secret(lease_.secret);
  // Re-sends keep their number: the coordinator writes each event once.
  if (options_.sequenced) event.set_seq(++next_seq_);
  const absl::Time give_up = absl::Now() + options_.reconnect_window;
  absl::Duration backoff = absl::Milliseconds(200);
  while (true) {
    if (WriteLocked(event)) return absl::OkStatus();
    // The stream broke: learn why.
    std::vector<v1::JobEvent> unconfirmed = std::move(sent_on_stream_);
    absl::Status s = FinishLocked();
    if (IsFencedOut(s)) {
      fatal_ =
          Annotate(s, absl::StrCat("job ", lease_.job_id, " attempt ", lease_.attempt));
      return fatal_;
    }
    if (absl::Now() > give_up) {
      fatal_ = absl::UnavailableError(
          absl::StrCat("job ", lease_.job_id, " attempt ", lease_.attempt,
                       ": cannot reach the coordinator: ", s.message()));
      return fatal_;
    }
    RIB_LOG(WARNING) << "report stream of job " << lease_.job_id << " broke (" << s
                     << "); reopening";
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
    // Re-send what the broken stream may have lost, then retry this event.
    bool resent = true;
    for (const v1::JobEvent& e : unconfirmed) {
      if (!WriteLocked(e)) {
        resent = false;
        break;
      }
    }
    if (!resent) {
      // Keep every event for the next try: sent_on_stream_ holds the resent prefix.
      std::vector<v1::JobEvent> keep = unconfirmed;
      sent_on_stream_ = std::move(keep);
    }
  }
}

absl::Status EventStream::Close() {
  absl::MutexLock lock(&mu_);
  if (closed_) return fatal_;
  closed_ = true;
  if (!fatal_.ok()) return fatal_;
  // The answer tells whether the coordinator wrote the events; when the connection
  // broke before it came, send them again on a fresh stream.
  const std::vector<v1::JobEvent> events = sent_on_stream_;
  absl::Status s = FinishLocked();
  const absl::Time give_up = absl::Now() + options_.reconnect_window;
  absl::Duration backoff = absl::Milliseconds(200);
  while (!s.ok() && !IsFencedOut(s) && !events.empty() && absl::Now() < give_up) {
    RIB_LOG(WARNING) << "report stream of job " << lease_.job_id << " ended with " << s
                     << "; sending its " << events.size() << " events again";
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
    OpenLocked().IgnoreError();
    for (const v1::JobEvent& e : events) {
      if (!writer_->Write(e)) break;
    }
    s = FinishLocked();
  }
  if (!s.ok())
    fatal_ =
        Annotate(s, absl::StrCat("job ", lease_.job_id, " attempt ", lease_.attempt));
  return fatal_;
}

absl::Status EventStream::ReportFinished(std::shared_ptr<grpc::Channel> channel,
                                         const AttemptLease& lease,
                                         const std::string& token,
                                         const v1::JobFinished& finished) {
  EventStreamOptions options;
  options.token = token;
  options.reconnect_window = absl::Seconds(20);
  options.sequenced = false;
  EventStream stream(std::move(channel), lease, options);
  v1::JobEvent event;
  *event.mutable_finished() = finished;
  RIB_RETURN_IF_ERROR(stream.Send(std::move(event)));
  return stream.Close();
}

absl::Status EventStream::ReportFailed(std::shared_ptr<grpc::Channel> channel,
                                       const AttemptLease& lease,
                                       const std::string& token, const absl::Status& why,
                                       bool released) {
  v1::JobFinished finished;
  finished.set_ok(false);
  finished.set_error(std::string(why.message()));
  finished.set_code(static_cast<int>(why.code()));
  finished.set_released(released);
  finished.set_retryable(released || absl::IsUnavailable(why));
  return ReportFinished(std::move(channel), lease, token, finished);
}

}  // namespace rib::agent
