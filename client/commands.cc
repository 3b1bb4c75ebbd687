#include "client/commands.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/args.h"
#include "client/session.h"
#include "common/hash.h"
#include "common/version.h"
#include "grpcpp/grpcpp.h"
#include "proto/tls/credentials.h"

namespace rib::client {

using internal::Command;
using internal::Commands;
using internal::FlagSpec;
using internal::GlobalFlags;
using internal::IsCommandGroup;
using internal::OneLine;
using internal::ParseArgs;
using internal::ParsedArgs;
using internal::Session;
namespace v1 = ::rib::v1;

std::string DefaultRequestId(const std::string& user, bool force,
                             const std::string& content) {
  std::string digest = Sha256Hex(absl::StrCat(
      "rib-submit\n", user, "\n", force ? "force" : "no-force", "\n", content));
  return "cli-" + digest.substr(0, 32);
}

namespace {

// Removes and returns the first argument of `args` that is neither a global flag nor
// a global flag's value; "" when there is none.
std::string TakeCommandWord(std::vector<std::string>* args) {
  for (size_t i = 0; i < args->size(); ++i) {
    const std::string& a = (*args)[i];
    if (!a.empty() && a[0] != '-') {
      std::string word = a;
      args->erase(args->begin() + static_cast<std::ptrdiff_t>(i));
      return word;
    }
    for (const FlagSpec& f : GlobalFlags()) {
      if (f.takes_value && a == "--" + f.name) {
        ++i;  // skip its value
        break;
      }
    }
  }
  return "";
}

}  // namespace

std::string UsageText() {
  std::string text =
      "usage: rib [--coordinator HOST:PORT] [--token T] [--tls-ca PEM] [--no-color] "
      "COMMAND [ARGS]\n\n"
      "commands:\n";
  for (const Command& c : Commands()) {
    absl::StrAppend(&text, "  rib ", c.name, c.usage.empty() ? "" : " ", c.usage, "\n");
  }
  absl::StrAppend(&text,
                  "  rib help | rib --help                  # this text\n"
                  "  rib version | rib --version            # rib's version, git commit, "
                  "LibTorch, CUDA\n");
  absl::StrAppend(
      &text,
      "\nThe coordinator address and token come from --coordinator / --token, else\n"
      "RIB_COORDINATOR / RIB_TOKEN, else the config file ($RIB_CONFIG or\n"
      "~/.config/rib/config.yaml, keys `coordinator:` and `token:`), else ",
      kDefaultCoordinator,
      ".\n"
      "--tls-ca PEM (RIB_TLS_CA, `tls_ca:`) connects over TLS trusting that CA;\n"
      "--tls-cert / --tls-key (RIB_TLS_CERT / RIB_TLS_KEY, `tls_cert:` / `tls_key:`)\n"
      "add a client certificate for a coordinator that requires one.\n"
      "`rib login` checks a token (--token, else one line on stdin) with the\n"
      "coordinator and saves it as the config file's `token:` (mode 0600).\n"
      "`rib token create` prints the new token alone on stdout's first line, the rest "
      "on\n"
      "stderr (or everything as JSON with -o json). Tokens, quota set, drain and\n"
      "undrain need an admin token; `rib priority` the sweep owner's (up to the\n"
      "coordinator's limit) or an admin's. `rib whoami` shows the token's user and "
      "role.\n"
      "`rib submit` sends a request id derived from the file, the user and --force, so\n"
      "submitting the same file twice returns the first sweep (--request-id overrides).\n"
      "Exit status: 0 ok, 1 error, 2 usage, 3 `watch` saw the sweep fail or be "
      "cancelled.\n");
  return text;
}

int RunCli(const std::vector<std::string>& args, const CliIo& io,
           const CliOptions& options) {
  CliIo fixed = io;
  if (!fixed.env)
    fixed.env = [](const std::string&) { return std::optional<std::string>(); };

  // The command is the first argument that is not a global flag (or its value); a
  // group's subcommand is the next such argument (`rib token create`).
  std::vector<std::string> rest = args;
  std::string command = TakeCommandWord(&rest);
  if (IsCommandGroup(command)) {
    const std::string group = command;
    std::string sub = TakeCommandWord(&rest);
    if (sub.empty()) {
      std::string usage;
      for (const Command& c : Commands()) {
        if (c.name.rfind(group + " ", 0) == 0) {
          absl::StrAppend(&usage, "  rib ", c.name, c.usage.empty() ? "" : " ", c.usage,
                          "\n");
        }
      }
      const bool help = std::find(rest.begin(), rest.end(), "--help") != rest.end() ||
                        std::find(rest.begin(), rest.end(), "-h") != rest.end();
      if (help) {
        *fixed.out << "usage:\n" << usage;
        return kExitOk;
      }
      *fixed.err << "rib: " << group << ": no subcommand given; usage:\n" << usage;
      return kExitUsage;
    }
    command = group + " " + sub;
  }
  if (command == "help" ||
      (command.empty() && !args.empty() && (args[0] == "--help" || args[0] == "-h"))) {
    *fixed.out << UsageText();
    return kExitOk;
  }
  if (command == "version" ||
      (command.empty() && !args.empty() && args[0] == "--version")) {
    *fixed.out << VersionText("rib");
    return kExitOk;
  }
  if (command.empty()) {
    *fixed.err << "rib: no command given (rib help lists them)\n";
    return kExitUsage;
  }
  const Command* spec = nullptr;
  for (const Command& c : Commands()) {
    if (c.name == command) spec = &c;
  }
  if (spec == nullptr) {
    *fixed.err << "rib: unknown command '" << command << "' (rib help lists them)\n";
    return kExitUsage;
  }
  std::vector<FlagSpec> flags = GlobalFlags();
  flags.insert(flags.end(), spec->flags.begin(), spec->flags.end());
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(rest, flags);
  if (parsed.ok() && parsed->Has("help")) {
    *fixed.out << "usage: rib " << spec->name << (spec->usage.empty() ? "" : " ")
               << spec->usage << "\n";
    return kExitOk;
  }
  if (parsed.ok() && static_cast<int>(parsed->positionals.size()) != spec->positionals) {
    parsed = absl::InvalidArgumentError(absl::StrCat(
        "usage: rib ", spec->name, spec->usage.empty() ? "" : " ", spec->usage));
  }
  if (!parsed.ok()) {
    *fixed.err << "rib: " << command << ": " << parsed.status().message() << "\n";
    return kExitUsage;
  }

  ConnectionFlags connection_flags;
  connection_flags.coordinator = parsed->Get("coordinator");
  connection_flags.token = parsed->Get("token");
  connection_flags.tls_ca = parsed->Get("tls-ca");
  connection_flags.tls_cert = parsed->Get("tls-cert");
  connection_flags.tls_key = parsed->Get("tls-key");
  // `rib login` creates the config file that $RIB_CONFIG may name.
  absl::StatusOr<ConnectionConfig> config = ResolveConnection(
      connection_flags, fixed.env, /*missing_config_ok=*/command == "login");
  if (!config.ok()) {
    *fixed.err << "rib: " << OneLine(std::string(config.status().message())) << "\n";
    return kExitUsage;
  }
  std::optional<std::string> no_color_env = fixed.env("NO_COLOR");
  const bool color = fixed.out_is_terminal && !parsed->Has("no-color") &&
                     !(no_color_env && !no_color_env->empty());

  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Coordinator::StubInterface> stub;
  if (options.stub_factory) {
    stub = options.stub_factory(*config);
  } else {
    grpc::ChannelArguments channel_args;
    // ListJobs pages carry every job's results (75 ImageNet-C subsets each), which can
    // pass gRPC's 4 MiB default.
    channel_args.SetMaxReceiveMessageSize(256 << 20);
    tls::ClientTlsOptions tls;
    tls.ca_file = config->tls_ca;
    tls.cert_file = config->tls_cert;
    tls.key_file = config->tls_key;
    absl::StatusOr<std::shared_ptr<grpc::Channel>> made =
        tls::MakeChannel(config->coordinator, tls, channel_args);
    if (!made.ok()) {
      *fixed.err << "rib: " << OneLine(std::string(made.status().message())) << "\n";
      return kExitUsage;
    }
    channel = *std::move(made);
    stub = v1::Coordinator::NewStub(channel);
  }
  Session session(fixed, options, *config, channel, std::move(stub), color);
  absl::StatusOr<int> code = session.Run(command, *parsed);
  fixed.out->flush();
  if (code.ok()) return *code;
  std::string message = OneLine(std::string(code.status().message()));
  if (absl::IsUnauthenticated(code.status()) && command != "login") {
    absl::StrAppend(&message, config->token.empty() ? " (no token given: " : " (",
                    "run `rib login` or set RIB_TOKEN)");
  }
  if (session.unreachable()) {
    *fixed.err << "rib: " << message << "\n";
  } else {
    *fixed.err << "rib: " << command << ": " << message << "\n";
  }
  return kExitError;
}

}  // namespace rib::client
