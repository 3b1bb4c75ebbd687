#include "client/args.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace rib::client::internal {

const std::vector<FlagSpec>& GlobalFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"coordinator", true, ""}, {"token", true, ""},   {"tls-ca", true, ""},
      {"tls-cert", true, ""},    {"tls-key", true, ""}, {"no-color", false, ""},
      {"help", false, "-h"},
  };
  return *flags;
}

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                                     const std::vector<FlagSpec>& specs) {
  ParsedArgs parsed;
  bool only_positionals = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    // "-5" is a value (`rib priority SWEEP -5`), not a flag: no flag starts with a digit.
    const bool negative_number = arg.size() >= 2 && arg[0] == '-' &&
                                 absl::ascii_isdigit(static_cast<unsigned char>(arg[1]));
    if (only_positionals || arg.size() < 2 || arg[0] != '-' || negative_number) {
      parsed.positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positionals = true;
      continue;
    }
    std::string name;
    std::optional<std::string> value;
    if (arg.rfind("--", 0) == 0) {
      name = arg.substr(2);
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      }
    } else {
      name = arg;  // a short flag, matched below
    }
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& s : specs) {
      if (s.name == name || (!s.short_name.empty() && s.short_name == name)) spec = &s;
    }
    if (spec == nullptr) return absl::InvalidArgumentError("unknown flag " + arg);
    if (spec->takes_value) {
      if (!value) {
        if (i + 1 >= args.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat("--", spec->name, " needs a value"));
        }
        value = args[++i];
      }
    } else if (value) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", spec->name, " takes no value"));
    }
    parsed.flags[spec->name] = value.value_or("");
  }
  return parsed;
}

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"submit",
       "FILE [--request-id ID] [--force] [-q|--quiet] [--dry-run [-o table|json|csv]]",
       {{"request-id", true, ""},
        {"force", false, ""},
        {"quiet", false, "-q"},
        {"dry-run", false, ""},
        {"output", true, "-o"}},
       1},
      {"plan",
       "FILE [--force] [-o table|json|csv]",
       {{"force", false, ""}, {"output", true, "-o"}},
       1},
      {"sweeps", "[-o table|json|csv]", {{"output", true, "-o"}}, 0},
      {"status", "SWEEP [-o table|json|csv]", {{"output", true, "-o"}}, 1},
      {"jobs",
       "[--sweep SWEEP] [--state STATE] [-o table|json|csv]",
       {{"sweep", true, ""}, {"state", true, ""}, {"output", true, "-o"}},
       0},
      {"workers", "[-o table|json|csv]", {{"output", true, "-o"}}, 0},
      {"results", "SWEEP [-o table|json|csv]", {{"output", true, "-o"}}, 1},
      {"job", "JOB [-o table|json|csv]", {{"output", true, "-o"}}, 1},
      {"logs",
       "JOB [--attempt N] [--rank R] [-f|--follow]",
       {{"attempt", true, ""}, {"rank", true, ""}, {"follow", false, "-f"}},
       1},
      {"watch", "SWEEP [--subsets]", {{"subsets", false, ""}}, 1},
      {"matrix",
       "SWEEP [--model M] [--method X] [-o|--format table|csv|json|latex] [--svg FILE] "
       "[--out DIR]",
       {{"model", true, ""},
        {"method", true, ""},
        {"format", true, ""},
        {"output", true, "-o"},
        {"svg", true, ""},
        {"out", true, ""}},
       1},
      {"cancel", "SWEEP", {}, 1},
      {"retry", "SWEEP", {}, 1},
      {"drain", "WORKER", {}, 1},
      {"undrain", "WORKER", {}, 1},
      {"priority", "SWEEP N", {}, 2},
      {"login", "[--token T]", {}, 0},
      {"whoami", "[-o table|json|csv]", {{"output", true, "-o"}}, 0},
      {"token create",
       "--user U --role user|admin|worker [-o table|json|csv]",
       {{"user", true, ""}, {"role", true, ""}, {"output", true, "-o"}},
       0},
      {"token list",
       "[--all] [-o table|json|csv]",
       {{"all", false, ""}, {"output", true, "-o"}},
       0},
      {"token revoke", "TOKEN_ID", {}, 1},
      {"quota set", "USER --devices N|unlimited", {{"devices", true, ""}}, 1},
      {"quota list", "[-o table|json|csv]", {{"output", true, "-o"}}, 0},
  };
  return *commands;
}

bool IsCommandGroup(const std::string& word) {
  for (const Command& c : Commands()) {
    if (c.name.size() > word.size() && c.name.compare(0, word.size(), word) == 0 &&
        c.name[word.size()] == ' ') {
      return true;
    }
  }
  return false;
}

}  // namespace rib::client::internal
