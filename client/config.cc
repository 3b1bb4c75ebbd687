#include "client/config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace rib::client {
namespace {

struct FileValues {
  std::optional<std::string> coordinator;
  std::optional<std::string> token;
};

// Reads the config file at `path`. A missing file is NOT_FOUND.
absl::StatusOr<FileValues> ReadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("config file ", path, ": not found"));
  std::stringstream text;
  text << in.rdbuf();
  FileValues values;
  try {
    YAML::Node root = YAML::Load(text.str());
    if (root.IsNull()) return values;  // an empty file sets nothing
    if (!root.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat("config file ", path,
                       ": expected a mapping with `coordinator:` "
                       "and `token:`"));
    }
    for (const char* key : {"coordinator", "token"}) {
      YAML::Node node = root[key];
      if (!node) continue;
      if (!node.IsScalar() || node.Scalar().empty()) {
        return absl::InvalidArgumentError(absl::StrCat("config file ", path, ":",
                                                       node.Mark().line + 1, ": `", key,
                                                       "` must be a non-empty string"));
      }
      (std::string(key) == "coordinator" ? values.coordinator : values.token) =
          node.Scalar();
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, ":", e.mark.line + 1, ": ", e.msg));
  }
  return values;
}

bool NonEmpty(const std::optional<std::string>& v) { return v && !v->empty(); }

// One setting by precedence: the flag when given, a non-empty environment variable,
// the config file (`file_path`), else `fallback`.
// Sets `*value` and `*source` ("flag", "env", the file's path or "default").
void PickFirst(const std::optional<std::string>& flag,
               const std::optional<std::string>& env,
               const std::optional<std::string>& from_file, const std::string& file_path,
               const std::string& fallback, std::string* value, std::string* source) {
  if (flag) {
    *value = *flag;
    *source = "flag";
  } else if (NonEmpty(env)) {
    *value = *env;
    *source = "env";
  } else if (from_file) {
    *value = *from_file;
    *source = file_path;
  } else {
    *value = fallback;
    *source = "default";
  }
}

}  // namespace

absl::StatusOr<ConnectionConfig> ResolveConnection(
    const std::optional<std::string>& flag_coordinator,
    const std::optional<std::string>& flag_token, const EnvLookup& env) {
  ConnectionConfig config;
  if (flag_coordinator && flag_coordinator->empty()) {
    return absl::InvalidArgumentError("--coordinator: empty address");
  }

  std::optional<std::string> env_coordinator = env("RIB_COORDINATOR");
  std::optional<std::string> env_token = env("RIB_TOKEN");

  // The file is read only when some setting is still open, so a broken file does not
  // stop a command that names everything on its command line.
  FileValues file;
  std::string file_path;
  bool need_file = !(flag_coordinator || NonEmpty(env_coordinator)) ||
                   !(flag_token || NonEmpty(env_token));
  if (need_file) {
    std::optional<std::string> explicit_path = env("RIB_CONFIG");
    if (NonEmpty(explicit_path)) {
      file_path = *explicit_path;
      absl::StatusOr<FileValues> read = ReadConfigFile(file_path);
      if (!read.ok()) {
        if (absl::IsNotFound(read.status())) {
          return absl::NotFoundError(
              absl::StrCat("RIB_CONFIG=", file_path, ": no such file"));
        }
        return read.status();
      }
      file = *read;
    } else if (std::optional<std::string> home = env("HOME"); NonEmpty(home)) {
      file_path = *home + "/.config/rib/config.yaml";
      absl::StatusOr<FileValues> read = ReadConfigFile(file_path);
      if (read.ok()) {
        file = *read;
      } else if (!absl::IsNotFound(read.status())) {
        return read.status();
      }
    }
  }

  PickFirst(flag_coordinator, env_coordinator, file.coordinator, file_path,
            kDefaultCoordinator, &config.coordinator, &config.coordinator_source);
  PickFirst(flag_token, env_token, file.token, file_path, "", &config.token,
            &config.token_source);
  return config;
}

}  // namespace rib::client
