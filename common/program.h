// The command line of rib's binaries: Abseil flags spelled with dashes or underscores,
// and a `--help` and `--version` that say something useful. Abseil's own --help lists
// only flags defined in a file named after the program (main.cc here), so each binary
// printed "No flags matched"; this lists every flag the binary defines.
//
//   int main(int argc, char** argv) {
//     std::vector<std::string> args = rib::ParseFlagsOrExit(kHelp, argc, argv);
//     ...
//   }
//
// Not thread-safe: call once, from main, before other threads start.
#ifndef RIB_COMMON_PROGRAM_H_
#define RIB_COMMON_PROGRAM_H_

#include <string>
#include <vector>

#include "absl/flags/declare.h"

// --log-level and --log-format, defined in program.cc and applied by ParseFlagsOrExit.
// Declared here so a main can pass them on (rib-worker forwards it to the rank processes
// it starts).
ABSL_DECLARE_FLAG(std::string, log_level);
ABSL_DECLARE_FLAG(std::string, log_format);

namespace rib {

// What --help says about a binary.
struct ProgramHelp {
  std::string name;         // "rib-worker"
  std::string synopsis;     // what follows the name on the usage line
  std::string description;  // what the program does, a paragraph (wrapped as written)
  std::vector<std::string> examples;  // whole command lines, at least one
  // Whether positional arguments (a subcommand, files) are accepted. When false, any
  // is refused, naming it, with exit status 2.
  bool takes_arguments = false;
};

// Parses argv with Abseil's flags after rewriting --data-root to --data_root
// (FlagArgs). `--help`/`-h` print HelpText and `--version` prints VersionText, each to
// stdout, and exit 0, before anything else is parsed; a bad flag exits 1 with Abseil's
// message naming it. Then applies --log-level (defined here for every binary; default
// "info"): an unknown level prints "<name>: unknown --log-level 'X' (expected debug,
// info, warning or error)" to stderr and exits 2; likewise --log-format (text or json).
// Also labels this process's rib_build_info metric (SetBuildInfoMetric) with the build.
// Returns the positional arguments after argv[0] (always empty unless
// help.takes_arguments).
std::vector<std::string> ParseFlagsOrExit(const ProgramHelp& help, int argc, char** argv);

// The --help text: usage line, description, every flag registered in this process that
// rib's sources define (not Abseil's built-in ones), sorted, each with its default and
// help, then --help/--version and the examples.
std::string HelpText(const ProgramHelp& help);

}  // namespace rib

#endif  // RIB_COMMON_PROGRAM_H_
