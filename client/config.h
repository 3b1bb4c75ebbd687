// Where the rib CLI finds its coordinator and token. Thread-compatible.
//
// Each setting is taken from the first source that has it:
//   1. the --coordinator / --token flags,
//   2. the environment: RIB_COORDINATOR / RIB_TOKEN,
//   3. a YAML config file with `coordinator:` and `token:` keys, at $RIB_CONFIG, or
//      else $HOME/.config/rib/config.yaml (skipped silently when that one is absent),
//   4. the default address 127.0.0.1:7070 (no token).
#ifndef RIB_CLIENT_CONFIG_H_
#define RIB_CLIENT_CONFIG_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace rib::client {

inline constexpr char kDefaultCoordinator[] = "127.0.0.1:7070";

// Reads an environment variable; nullopt when unset. main() passes one backed by
// getenv(); tests pass a map. (Libraries never read the environment themselves.)
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

struct ConnectionConfig {
  std::string coordinator;  // host:port
  std::string token;        // "" = none
  // Where each value came from: "flag", "env", the config file's path, or "default".
  std::string coordinator_source;
  std::string token_source;
};

// Applies the precedence above. Errors: NOT_FOUND when $RIB_CONFIG names a missing
// file; INVALID_ARGUMENT naming the file when a config file is not a YAML mapping of
// strings, or when a value is empty.
absl::StatusOr<ConnectionConfig> ResolveConnection(
    const std::optional<std::string>& flag_coordinator,
    const std::optional<std::string>& flag_token, const EnvLookup& env);

}  // namespace rib::client

#endif  // RIB_CLIENT_CONFIG_H_
