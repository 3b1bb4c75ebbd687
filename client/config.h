// Where the rib CLI finds its coordinator, its token and its TLS files.
// Thread-compatible.
//
// Each setting is taken from the first source that has it:
//   1. the --coordinator / --token / --tls-ca / --tls-cert / --tls-key flags,
//   2. the environment: RIB_COORDINATOR / RIB_TOKEN / RIB_TLS_CA / RIB_TLS_CERT /
//      RIB_TLS_KEY,
//   3. a YAML config file with `coordinator:`, `token:`, `tls_ca:`, `tls_cert:` and
//      `tls_key:` keys, at $RIB_CONFIG, or else $HOME/.config/rib/config.yaml (skipped
//      silently when that one is absent); relative TLS paths there are relative to the
//      file's folder,
//   4. the default address 127.0.0.1:7070 (no token, plaintext).
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

// The command line's values (nullopt = flag not given).
struct ConnectionFlags {
  std::optional<std::string> coordinator;
  std::optional<std::string> token;
  std::optional<std::string> tls_ca;
  std::optional<std::string> tls_cert;
  std::optional<std::string> tls_key;
};

struct ConnectionConfig {
  std::string coordinator;  // host:port
  std::string token;        // "" = none
  std::string tls_ca;       // PEM file of the CA to trust; "" = plaintext
  std::string tls_cert;     // PEM client certificate and key; "" = none
  std::string tls_key;
  // Where each value came from: "flag", "env", the config file's path, or "default".
  std::string coordinator_source;
  std::string token_source;
  std::string tls_ca_source;
};

// Applies the precedence above. Errors: NOT_FOUND when $RIB_CONFIG names a missing
// file; INVALID_ARGUMENT naming the file when a config file is not a YAML mapping of
// strings, or when a value is empty.
// `missing_config_ok`: a $RIB_CONFIG naming a missing file is read as an empty one
// (`rib login` creates it).
absl::StatusOr<ConnectionConfig> ResolveConnection(const ConnectionFlags& flags,
                                                   const EnvLookup& env,
                                                   bool missing_config_ok = false);

// The config file's path by the rule above: $RIB_CONFIG, else
// $HOME/.config/rib/config.yaml. FAILED_PRECONDITION when neither variable is set.
absl::StatusOr<std::string> ConfigFilePath(const EnvLookup& env);

// Sets `token:` in the config file at `path`, keeping its other lines (comments
// included) and creating it and its parent folders when missing. The file ends up
// with mode 0600, whatever it had: it is written to a temporary file of mode 0600 in
// the same folder and renamed over the old one, so a reader never sees half a file.
// Errors: INVALID_ARGUMENT when `token` is not one word of [A-Za-z0-9._-] (it would
// need YAML quoting) or the existing file is not a YAML mapping; PERMISSION_DENIED or
// DATA_LOSS naming the path when a folder or the file cannot be created or written.
absl::Status SaveTokenToConfigFile(const std::string& path, const std::string& token);

}  // namespace rib::client

#endif  // RIB_CLIENT_CONFIG_H_
