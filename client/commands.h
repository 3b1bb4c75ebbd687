// The rib CLI's commands (submit, sweeps, status, jobs, workers, watch, matrix,
// cancel, retry, drain, undrain, priority, login, whoami, token, quota), run against a
// rib.v1.Coordinator. main() is a thin wrapper around RunCli so the whole CLI runs
// in-process in tests. Not thread-safe: one call at a time per CliIo.
//
// Errors: every failure prints exactly one line to io.err and returns non-zero:
//   rib: submit: INVALID_ARGUMENT: demo.yaml:14: methods[2].kind: unknown method 'lorra'
//   rib: cannot reach coordinator at 127.0.0.1:7070 (UNAVAILABLE)
// An UNAUTHENTICATED answer adds the hint "(run `rib login` or set RIB_TOKEN)"; a
// PERMISSION_DENIED one prints the coordinator's message, which names the role needed.
#ifndef RIB_CLIENT_COMMANDS_H_
#define RIB_CLIENT_COMMANDS_H_

#include <functional>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/config.h"
#include "rib/v1/coordinator.grpc.pb.h"

namespace rib::client {

// Exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;        // an RPC or local operation failed
inline constexpr int kExitUsage = 2;        // bad command line
inline constexpr int kExitSweepFailed = 3;  // `watch`: the sweep ended FAILED/CANCELLED

struct CliIo {
  std::ostream* out = nullptr;  // results
  std::ostream* err = nullptr;  // the one error line
  // Where `rib login` reads a token when --token is not given (one line); null = an
  // empty input.
  std::istream* in = nullptr;
  // Whether `in` is a terminal: `rib login` then prompts for the token on `err`.
  bool in_is_terminal = false;
  // Whether `out` is a terminal: enables colour (unless --no-color / NO_COLOR) and
  // in-place progress bars.
  bool out_is_terminal = false;
  // The terminal's width in columns when known (0 = unknown: 80 is assumed).
  int terminal_width = 0;
  // The process environment (RIB_COORDINATOR, RIB_TOKEN, RIB_CONFIG, HOME, USER,
  // NO_COLOR). Default: an empty environment.
  EnvLookup env;
};

struct CliOptions {
  // Deadline of each unary RPC. Default 30 s: long enough for a big sweep's
  // submission, short enough that a hung coordinator does not hang scripts.
  absl::Duration rpc_timeout = absl::Seconds(30);
  // How long `watch` keeps reconnecting after its event stream breaks (e.g. while the
  // coordinator restarts). Default 2 min; 0 = give up at once.
  absl::Duration watch_reconnect_window = absl::Minutes(2);
  // How often `logs -f` asks for more of a running attempt's log. Default 1 s: the
  // worker uploads once a second.
  absl::Duration log_follow_poll = absl::Seconds(1);
  // Builds the stub for a resolved connection. Default: an insecure channel to
  // config.coordinator (then "cannot reach" errors can tell a down coordinator from
  // one that answered UNAVAILABLE).
  std::function<std::unique_ptr<rib::v1::Coordinator::StubInterface>(
      const ConnectionConfig& config)>
      stub_factory;
};

// Runs one command line (`args` without the program name) and returns the exit code.
int RunCli(const std::vector<std::string>& args, const CliIo& io,
           const CliOptions& options = {});

// The default client_request_id of `rib submit`: "cli-" + the first 32 hex digits of
// SHA-256(user, force flag, file content). Submitting the same file again (same user,
// same --force) is therefore idempotent: the coordinator answers with the sweep it
// created the first time instead of creating another.
std::string DefaultRequestId(const std::string& user, bool force,
                             const std::string& content);

std::string UsageText();

}  // namespace rib::client

#endif  // RIB_CLIENT_COMMANDS_H_
