#include "worker/engine/torch_errors.h"

#include <c10/util/Exception.h>

#include <new>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace rib::engine {
namespace {

// Payload marking a status converted from an exception (its value is unused).
constexpr absl::string_view kFromExceptionUrl = "type.rib.dev/engine.FromException";

}  // namespace

absl::Status ExceptionToStatus(const std::exception& e, absl::string_view context,
                               absl::StatusCode code) {
  const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
  const std::string text = torch_error != nullptr
                               ? std::string(torch_error->what_without_backtrace())
                               : std::string(e.what());
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr ||
      dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    code = absl::StatusCode::kResourceExhausted;
  }
  const std::string first_line = text.substr(0, text.find('\n'));
  RIB_LOG(DEBUG) << context << ": exception: " << text;
  absl::Status status(
      code, absl::StrCat(context, ": ", first_line.empty() ? "exception" : first_line));
  status.SetPayload(kFromExceptionUrl, absl::Cord());
  return status;
}

namespace internal {

absl::Status CurrentExceptionToStatus(absl::string_view context) {
  try {
    throw;
  } catch (const std::exception& e) {
    return ExceptionToStatus(e, context);
  } catch (...) {
    absl::Status status(absl::StatusCode::kInternal,
                        absl::StrCat(context, ": unknown exception"));
    status.SetPayload(kFromExceptionUrl, absl::Cord());
    return status;
  }
}

absl::Status AddBoundaryContext(const absl::Status& status, absl::string_view context) {
  if (status.ok() || !status.GetPayload(kFromExceptionUrl).has_value()) return status;
  // Payloads are dropped with the mark; ExceptionToStatus sets no others.
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

}  // namespace internal
}  // namespace rib::engine
