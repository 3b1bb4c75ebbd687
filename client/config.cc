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

}  // namespace

absl::StatusOr<ConnectionConfig> ResolveConnection(
    const std::optional<std::string>& flag_coordinator,
    const std::optional<std::string>& flag_token, const EnvLookup& env) {
  ConnectionConfig config;
  auto non_empty = [](const std::optional<std::string>& v) { return v && !v->empty(); };
  if (flag_coordinator && flag_coordinator->empty()) {
    return absl::InvalidArgumentError("--coordinator: empty address");
  }

  std::optional<std::string> env_coordinator = env("RIB_COORDINATOR");
  std::optional<std::string> env_token = env("RIB_TOKEN");

  // The file is read only when some setting is still open, so a broken file does not
  // stop a command that names everything on its command line.
  FileValues file;
  std::string file_path;
  bool need_file = !(flag_coordinator || non_empty(env_coordinator)) ||
                   !(flag_token || non_empty(env_token));
  if (need_file) {
    std::optional<std::string> explicit_path = env("RIB_CONFIG");
    if (non_empty(explicit_path)) {
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
    } else if (std::optional<std::string> home = env("HOME"); non_empty(home)) {
      file_path = *home + "/.config/rib/config.yaml";
      absl::StatusOr<FileValues> read = ReadConfigFile(file_path);
      if (read.ok()) {
        file = *read;
      } else if (!absl::IsNotFound(read.status())) {
        return read.status();
      }
    }
  }

  if (flag_coordinator) {
    config.coordinator = *flag_coordinator;
    config.coordinator_source = "flag";
  } else if (non_empty(env_coordinator)) {
    config.coordinator = *env_coordinator;
    config.coordinator_source = "env";
  } else if (file.coordinator) {
    config.coordinator = *file.coordinator;
    config.coordinator_source = file_path;
  } else {
    config.coordinator = kDefaultCoordinator;
    config.coordinator_source = "default";
  }

  if (flag_token) {
    config.token = *flag_token;
    config.token_source = "flag";
  } else if (non_empty(env_token)) {
    config.token = *env_token;
    config.token_source = "env";
  } else if (file.token) {
    config.token = *file.token;
    config.token_source = file_path;
  } else {
    config.token_source = "default";
  }
  return config;
}

}  // namespace rib::client
