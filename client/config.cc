#include "client/config.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/atomic_file.h"
#include "yaml-cpp/yaml.h"

namespace rib::client {
namespace {

// The config file's keys, in the order the error message lists them.
constexpr const char* kFileKeys[] = {"coordinator", "token", "tls_ca", "tls_cert",
                                     "tls_key"};

// Key → value of the keys the file sets.
using FileValues = std::map<std::string, std::string>;

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
                       ": expected a mapping with `coordinator:`, `token:`, `tls_ca:`, "
                       "`tls_cert:` and `tls_key:`"));
    }
    for (const char* key : kFileKeys) {
      YAML::Node node = root[key];
      if (!node) continue;
      if (!node.IsScalar() || node.Scalar().empty()) {
        return absl::InvalidArgumentError(absl::StrCat("config file ", path, ":",
                                                       node.Mark().line + 1, ": `", key,
                                                       "` must be a non-empty string"));
      }
      values[key] = node.Scalar();
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, ":", e.mark.line + 1, ": ", e.msg));
  }
  return values;
}

bool NonEmpty(const std::optional<std::string>& v) { return v && !v->empty(); }

std::optional<std::string> FileValue(const FileValues& file, const std::string& key) {
  auto it = file.find(key);
  if (it == file.end()) return std::nullopt;
  return it->second;
}

// A relative path from the config file is relative to the file's folder (as in
// kubeconfig), not to wherever `rib` runs.
std::optional<std::string> FilePath(const FileValues& file, const std::string& key,
                                    const std::string& file_path) {
  std::optional<std::string> value = FileValue(file, key);
  if (!value) return value;
  std::filesystem::path p(*value);
  if (p.is_absolute()) return value;
  return (std::filesystem::path(file_path).parent_path() / p).lexically_normal().string();
}

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

absl::StatusOr<ConnectionConfig> ResolveConnection(const ConnectionFlags& flags,
                                                   const EnvLookup& env,
                                                   bool missing_config_ok) {
  ConnectionConfig config;
  if (flags.coordinator && flags.coordinator->empty()) {
    return absl::InvalidArgumentError("--coordinator: empty address");
  }

  std::optional<std::string> env_coordinator = env("RIB_COORDINATOR");
  std::optional<std::string> env_token = env("RIB_TOKEN");
  std::optional<std::string> env_tls_ca = env("RIB_TLS_CA");
  std::optional<std::string> env_tls_cert = env("RIB_TLS_CERT");
  std::optional<std::string> env_tls_key = env("RIB_TLS_KEY");
  auto open = [](const std::optional<std::string>& flag,
                 const std::optional<std::string>& from_env) {
    return !(flag || NonEmpty(from_env));
  };

  // The file is read only when some setting is still open, so a broken file does not
  // stop a command that names everything on its command line.
  FileValues file;
  std::string file_path;
  bool need_file = open(flags.coordinator, env_coordinator) ||
                   open(flags.token, env_token) || open(flags.tls_ca, env_tls_ca) ||
                   open(flags.tls_cert, env_tls_cert) || open(flags.tls_key, env_tls_key);
  if (need_file) {
    std::optional<std::string> explicit_path = env("RIB_CONFIG");
    if (NonEmpty(explicit_path)) {
      file_path = *explicit_path;
      absl::StatusOr<FileValues> read = ReadConfigFile(file_path);
      if (!read.ok()) {
        if (absl::IsNotFound(read.status()) && missing_config_ok) {
          read = FileValues();
        } else if (absl::IsNotFound(read.status())) {
          return absl::NotFoundError(
              absl::StrCat("RIB_CONFIG=", file_path, ": no such file"));
        }
        if (!read.ok()) return read.status();
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

  PickFirst(flags.coordinator, env_coordinator, FileValue(file, "coordinator"), file_path,
            kDefaultCoordinator, &config.coordinator, &config.coordinator_source);
  PickFirst(flags.token, env_token, FileValue(file, "token"), file_path, "",
            &config.token, &config.token_source);
  PickFirst(flags.tls_ca, env_tls_ca, FilePath(file, "tls_ca", file_path), file_path, "",
            &config.tls_ca, &config.tls_ca_source);
  std::string source;
  PickFirst(flags.tls_cert, env_tls_cert, FilePath(file, "tls_cert", file_path),
            file_path, "", &config.tls_cert, &source);
  PickFirst(flags.tls_key, env_tls_key, FilePath(file, "tls_key", file_path), file_path,
            "", &config.tls_key, &source);
  return config;
}

absl::StatusOr<std::string> ConfigFilePath(const EnvLookup& env) {
  if (std::optional<std::string> path = env("RIB_CONFIG"); NonEmpty(path)) return *path;
  if (std::optional<std::string> home = env("HOME"); NonEmpty(home)) {
    return *home + "/.config/rib/config.yaml";
  }
  return absl::FailedPreconditionError(
      "cannot tell where the config file is: neither RIB_CONFIG nor HOME is set");
}

absl::Status SaveTokenToConfigFile(const std::string& path, const std::string& token) {
  if (token.empty()) return absl::InvalidArgumentError("the token is empty");
  for (char c : token) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' &&
        c != '.') {
      return absl::InvalidArgumentError(
          "the token has characters other than letters, digits, '.', '_' and '-'");
    }
  }
  // The old file's lines, less its top-level `token:` lines; the new one goes where
  // the first was, so comments and the order of the other keys stay as they were.
  std::vector<std::string> lines;
  bool replaced = false;
  {
    std::ifstream in(path);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      try {
        YAML::Node root = YAML::Load(text.str());
        if (!root.IsNull() && !root.IsMap()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "config file ", path, ": not a YAML mapping; not changing it"));
        }
      } catch (const YAML::Exception& e) {
        return absl::InvalidArgumentError(absl::StrCat("config file ", path, ":",
                                                       e.mark.line + 1, ": ", e.msg,
                                                       "; not changing it"));
      }
      for (absl::string_view line : absl::StrSplit(text.str(), '\n')) {
        const bool is_token = absl::StartsWith(line, "token:");
        if (is_token && replaced) continue;
        if (is_token) {
          lines.push_back("token: " + token);
          replaced = true;
        } else {
          lines.emplace_back(line);
        }
      }
      if (!lines.empty() && lines.back().empty()) lines.pop_back();  // the final \n
    }
  }
  if (!replaced) lines.push_back("token: " + token);
  const std::string content = absl::StrJoin(lines, "\n") + "\n";

  const std::filesystem::path file(path);
  std::error_code ec;
  if (file.has_parent_path()) {
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot create the folder ", file.parent_path().string(), ": ", ec.message()));
    }
  }
  // Created 0600 (it holds a secret), whatever mode an older file had: the rename
  // replaces it.
  return WriteFileAtomically(path, content, S_IRUSR | S_IWUSR);
}

}  // namespace rib::client
