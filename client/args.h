// The rib CLI's command table and argument parser: which commands exist, their flags
// and how many positional arguments each takes. Thread-compatible (the tables are
// immutable once built).
#ifndef RIB_CLIENT_ARGS_H_
#define RIB_CLIENT_ARGS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace rib::client::internal {

struct FlagSpec {
  std::string name;  // without "--"
  bool takes_value;
  std::string short_name;  // e.g. "-q", or ""
};

struct ParsedArgs {
  std::map<std::string, std::string> flags;  // name -> value ("" for switches)
  std::vector<std::string> positionals;

  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const {
    auto it = flags.find(name);
    if (it == flags.end()) return std::nullopt;
    return it->second;
  }
};

struct Command {
  // "submit", or a group and its subcommand: "token create" (`rib token create`).
  std::string name;
  std::string usage;  // after "rib <name> "
  std::vector<FlagSpec> flags;
  int positionals;  // exactly this many
};

// --coordinator, --token, --tls-ca, --tls-cert, --tls-key, --no-color, --help:
// accepted by every command.
const std::vector<FlagSpec>& GlobalFlags();

// Every command, in the order `rib help` lists them.
const std::vector<Command>& Commands();

// Whether `word` names a group of subcommands ("token", "quota").
bool IsCommandGroup(const std::string& word);

// Splits `args` into the flags of `specs` and positionals. INVALID_ARGUMENT naming the
// flag for an unknown flag, a missing value or a value given to a switch.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                                     const std::vector<FlagSpec>& specs);

}  // namespace rib::client::internal

#endif  // RIB_CLIENT_ARGS_H_
