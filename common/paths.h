// Confinement of user-supplied names and paths (DESIGN §10): dataset keys, weight
// paths and artifact names must stay under their root.
#ifndef RIB_COMMON_PATHS_H_
#define RIB_COMMON_PATHS_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rib {

// A name usable as one path component: [A-Za-z0-9._-]+, not "." or "..", at most 128
// characters. INVALID_ARGUMENT naming `what` and the value otherwise.
absl::Status ValidateName(absl::string_view name, absl::string_view what);

// Joins `relative` under `root` and checks that the (lexically normalised) result stays
// inside root. Absolute `relative` paths are accepted when they are inside root.
// INVALID_ARGUMENT naming `what` when the path escapes (e.g. through "..").
absl::StatusOr<std::string> ResolveUnder(const std::string& root,
                                         const std::string& relative,
                                         absl::string_view what);

}  // namespace rib

#endif  // RIB_COMMON_PATHS_H_
