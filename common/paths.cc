#include "common/paths.h"

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace rib {
namespace fs = std::filesystem;

absl::Status ValidateName(absl::string_view name, absl::string_view what) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": empty name"));
  if (name.size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": name longer than 128 characters"));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat(what, ": '", name, "' is not a name"));
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": '", name, "' has a character outside [A-Za-z0-9._-]"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ResolveUnder(const std::string& root,
                                         const std::string& relative,
                                         absl::string_view what) {
  if (relative.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": empty path"));
  const fs::path base = fs::path(root).lexically_normal();
  fs::path joined = fs::path(relative).is_absolute() ? fs::path(relative)
                                                     : base / fs::path(relative);
  joined = joined.lexically_normal();
  const fs::path rel = joined.lexically_relative(base);
  if (rel.empty() || *rel.begin() == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", relative, "' is outside ", base.string()));
  }
  return joined.string();
}

}  // namespace rib
