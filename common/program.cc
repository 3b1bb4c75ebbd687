#include "common/program.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/flag_names.h"
#include "common/log.h"
#include "common/metrics_http.h"
#include "common/version.h"

// Every rib binary takes --log-level and --log-format, so they are defined once here,
// beside the parsing that applies it, rather than in each main.cc.
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(std::string, log_format, "text",
          "text (one line per message: level, ISO-8601 UTC time, tag, source) or json "
          "(one object per line)");

namespace rib {
namespace {

// Flags that Abseil itself registers (--flagfile, --helpfull, ...) live in its sources.
bool IsAbseilFlag(const absl::CommandLineFlag& flag) {
  return absl::StrContains(flag.Filename(), "absl/flags/");
}

std::string Shown(const absl::CommandLineFlag& flag) {
  std::string value = flag.DefaultValue();
  if (flag.IsOfType<std::string>()) return absl::StrCat("\"", value, "\"");
  return value;
}

}  // namespace

std::string HelpText(const ProgramHelp& help) {
  std::string text = absl::StrCat("usage: ", help.name, " ", help.synopsis, "\n");
  if (!help.description.empty()) absl::StrAppend(&text, "\n", help.description, "\n");

  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!IsAbseilFlag(*flag)) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](const auto* a, const auto* b) { return a->Name() < b->Name(); });
  absl::StrAppend(&text, "\nflags (--data-root and --data_root are the same flag):\n");
  for (const absl::CommandLineFlag* flag : flags) {
    absl::StrAppend(&text, "  --", absl::StrReplaceAll(flag->Name(), {{"_", "-"}}),
                    "  (default: ", Shown(*flag), ")\n      ", flag->Help(), "\n");
  }
  absl::StrAppend(&text,
                  "  --help\n      print this text and exit\n"
                  "  --version\n      print rib's version, git commit, LibTorch version "
                  "and whether CUDA is compiled in, and exit\n");
  if (!help.examples.empty()) {
    absl::StrAppend(&text, help.examples.size() == 1 ? "\nexample:\n" : "\nexamples:\n");
    for (const std::string& e : help.examples) absl::StrAppend(&text, "  ", e, "\n");
  }
  return text;
}

std::vector<std::string> ParseFlagsOrExit(const ProgramHelp& help, int argc,
                                          char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg == "--help" || arg == "-h") {
      std::fputs(HelpText(help).c_str(), stdout);
      std::exit(0);
    }
    if (arg == "--version") {
      std::fputs(VersionText(help.name).c_str(), stdout);
      std::exit(0);
    }
  }
  absl::FlagsUsageConfig config;
  config.version_string = [name = help.name] { return VersionText(name); };
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(absl::StrCat(help.name, " ", help.synopsis));
  FlagArgs flag_args(argc, argv);
  std::vector<char*> positional =
      absl::ParseCommandLine(flag_args.argc(), flag_args.argv());
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  if (!help.takes_arguments && !args.empty()) {
    std::fprintf(stderr, "%s: unexpected argument '%s' (%s --help lists the flags)\n",
                 help.name.c_str(), args[0].c_str(), help.name.c_str());
    std::exit(2);
  }
  LogLevel level;
  const std::string log_level = absl::GetFlag(FLAGS_log_level);
  if (!ParseLogLevel(log_level, &level)) {
    std::fprintf(stderr,
                 "%s: unknown --log-level '%s' (expected debug, info, warning or "
                 "error)\n",
                 help.name.c_str(), log_level.c_str());
    std::exit(2);
  }
  SetLogLevel(level);
  LogFormat format;
  const std::string log_format = absl::GetFlag(FLAGS_log_format);
  if (!ParseLogFormat(log_format, &format)) {
    std::fprintf(stderr, "%s: unknown --log-format '%s' (expected text or json)\n",
                 help.name.c_str(), log_format.c_str());
    std::exit(2);
  }
  SetLogFormat(format);
  const BuildInfo build = CurrentBuildInfo();
  SetBuildInfoMetric({{"commit", build.git_commit},
                      {"cuda", build.with_cuda ? "yes" : "no"},
                      {"torch", build.torch_version},
                      {"version", build.version}});
  return args;
}

}  // namespace rib
