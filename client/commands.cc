#include "client/commands.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "client/format.h"
#include "client/svg.h"
#include "client/watch.h"
#include "common/hash.h"
#include "common/status_macros.h"
#include "common/version.h"
#include "grpcpp/grpcpp.h"

namespace rib::client {
namespace {

namespace v1 = ::rib::v1;

// ---- command-line parsing ----

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

const std::vector<FlagSpec>& GlobalFlags() {
  static const auto* flags = new std::vector<FlagSpec>{{"coordinator", true, ""},
                                                       {"token", true, ""},
                                                       {"no-color", false, ""},
                                                       {"help", false, "-h"}};
  return *flags;
}

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                                     const std::vector<FlagSpec>& specs) {
  ParsedArgs parsed;
  bool only_positionals = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positionals || arg.size() < 2 || arg[0] != '-') {
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

// ---- commands ----

struct Command {
  std::string name;
  std::string usage;  // after "rib <name> "
  std::vector<FlagSpec> flags;
  int positionals;  // exactly this many
};

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"submit",
       "FILE [--request-id ID] [--force] [-q|--quiet]",
       {{"request-id", true, ""}, {"force", false, ""}, {"quiet", false, "-q"}},
       1},
      {"sweeps", "", {}, 0},
      {"status", "SWEEP", {}, 1},
      {"jobs",
       "[--sweep SWEEP] [--state STATE]",
       {{"sweep", true, ""}, {"state", true, ""}},
       0},
      {"workers", "", {}, 0},
      {"watch", "SWEEP [--subsets]", {{"subsets", false, ""}}, 1},
      {"matrix",
       "SWEEP [--model M] [--method X] [--format table|csv|json|latex] [--svg FILE] "
       "[--out DIR]",
       {{"model", true, ""},
        {"method", true, ""},
        {"format", true, ""},
        {"svg", true, ""},
        {"out", true, ""}},
       1},
      {"cancel", "SWEEP", {}, 1},
      {"retry", "SWEEP", {}, 1},
      {"drain", "WORKER", {}, 1},
  };
  return *commands;
}

std::string OneLine(const std::string& message) {
  std::string text(absl::StripAsciiWhitespace(message));
  absl::StrReplaceAll({{"\r\n", "; "}, {"\n", "; "}, {"\r", "; "}}, &text);
  return text;
}

std::string FormatTimestamp(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(ts.seconds()),
                          absl::LocalTimeZone());
}

// Left-aligned columns separated by two spaces; trailing spaces trimmed.
std::string Columns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) line += "  ";
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - DisplayWidth(row[c]), ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string JobLabel(const v1::Job& job) {
  std::string label =
      absl::StrCat(job.spec().model().name(), "/", job.spec().method().name());
  if (!job.spec().finetune_dataset().empty()) {
    absl::StrAppend(&label, "/", job.spec().finetune_dataset());
  }
  return label;
}

absl::StatusOr<v1::JobState> ParseJobState(const std::string& text) {
  std::string upper = absl::AsciiStrToUpper(text);
  if (upper.rfind("JOB_STATE_", 0) != 0) upper = "JOB_STATE_" + upper;
  v1::JobState state;
  if (!v1::JobState_Parse(upper, &state) || state == v1::JOB_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--state: unknown job state '", text,
        "' (expected pending, queued, leased, running, succeeded, failed or cancelled)"));
  }
  return state;
}

std::string SafeFileName(const std::string& text) {
  std::string out;
  for (char c : text) {
    out += absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
                   c == '.'
               ? c
               : '_';
  }
  return out;
}

absl::Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  out << content;
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("error writing ", path));
  return absl::OkStatus();
}

// One invocation: the resolved connection, the stub, and the output streams.
class Session {
 public:
  Session(const CliIo& io, const CliOptions& options, ConnectionConfig config,
          std::shared_ptr<grpc::Channel> channel,
          std::unique_ptr<v1::Coordinator::StubInterface> stub, bool color)
      : io_(io),
        options_(options),
        config_(std::move(config)),
        channel_(std::move(channel)),
        stub_(std::move(stub)),
        color_(color),
        user_(io.env("USER").value_or(io.env("LOGNAME").value_or(""))) {}

  bool unreachable() const { return unreachable_; }

  // Runs the command; returns an exit code, or a status to print as the error line.
  absl::StatusOr<int> Run(const std::string& command, const ParsedArgs& args);

 private:
  void Prepare(grpc::ClientContext* ctx, bool deadline) const {
    if (deadline) {
      ctx->set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
    }
    ctx->set_wait_for_ready(false);
    if (!config_.token.empty())
      ctx->AddMetadata("authorization", "Bearer " + config_.token);
    // Who is asking, for sweep ownership while the coordinator has no authentication
    // (it reads "x-rib-user"; with tokens, the token decides).
    if (!user_.empty()) ctx->AddMetadata("x-rib-user", user_);
  }

  // Converts a gRPC status: "CODE: message", or the "cannot reach" line when the
  // channel never connected.
  absl::Status FromGrpc(const grpc::Status& s) {
    if (s.ok()) return absl::OkStatus();
    const auto code = static_cast<absl::StatusCode>(s.error_code());
    const std::string name = absl::StatusCodeToString(code);
    if ((code == absl::StatusCode::kUnavailable ||
         code == absl::StatusCode::kDeadlineExceeded) &&
        channel_ != nullptr && channel_->GetState(false) != GRPC_CHANNEL_READY) {
      unreachable_ = true;
      return absl::Status(code, absl::StrCat("cannot reach coordinator at ",
                                             config_.coordinator, " (", name, ")"));
    }
    return absl::Status(code, absl::StrCat(name, ": ", OneLine(s.error_message())));
  }

  template <typename Request, typename Response>
  absl::Status Unary(grpc::Status (v1::Coordinator::StubInterface::*method)(
                         grpc::ClientContext*, const Request&, Response*),
                     const Request& request, Response* response) {
    grpc::ClientContext ctx;
    Prepare(&ctx, /*deadline=*/true);
    return FromGrpc((stub_.get()->*method)(&ctx, request, response));
  }

  std::ostream& out() { return *io_.out; }

  absl::StatusOr<int> Submit(const ParsedArgs& args);
  absl::StatusOr<int> Sweeps();
  absl::StatusOr<int> Status(const std::string& sweep_id);
  absl::StatusOr<int> Jobs(const ParsedArgs& args);
  absl::StatusOr<int> Workers();
  absl::StatusOr<int> Watch(const ParsedArgs& args);
  absl::StatusOr<int> Matrix(const ParsedArgs& args);
  absl::StatusOr<int> SweepAction(const std::string& command,
                                  const std::string& sweep_id);
  absl::StatusOr<int> Drain(const std::string& worker_id);

  const CliIo& io_;
  const CliOptions& options_;
  ConnectionConfig config_;
  std::shared_ptr<grpc::Channel> channel_;  // null when the stub came from a factory
  std::unique_ptr<v1::Coordinator::StubInterface> stub_;
  bool color_;
  const std::string user_;  // $USER, else $LOGNAME, else ""
  bool unreachable_ = false;
};

absl::StatusOr<int> Session::Run(const std::string& command, const ParsedArgs& args) {
  const std::vector<std::string>& pos = args.positionals;
  if (command == "submit") return Submit(args);
  if (command == "sweeps") return Sweeps();
  if (command == "status") return Status(pos[0]);
  if (command == "jobs") return Jobs(args);
  if (command == "workers") return Workers();
  if (command == "watch") return Watch(args);
  if (command == "matrix") return Matrix(args);
  if (command == "cancel" || command == "retry") return SweepAction(command, pos[0]);
  if (command == "drain") return Drain(pos[0]);
  return absl::InternalError("unhandled command " + command);
}

absl::StatusOr<int> Session::Submit(const ParsedArgs& args) {
  const std::string& path = args.positionals[0];
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  const bool force = args.Has("force");
  v1::SubmitSweepRequest request;
  request.set_sweep_yaml(text.str());
  request.set_force(force);
  request.set_source_name(path);
  std::optional<std::string> id = args.Get("request-id");
  if (id && id->empty()) return absl::InvalidArgumentError("--request-id: empty");
  request.set_client_request_id(id ? *id : DefaultRequestId(user_, force, text.str()));

  v1::SubmitSweepResponse response;
  RIB_RETURN_IF_ERROR(
      Unary(&v1::Coordinator::StubInterface::SubmitSweep, request, &response));
  if (args.Has("quiet")) {
    out() << response.sweep_id() << "\n";
    return kExitOk;
  }
  // "sweep <id> " first, so scripts can cut the id out of either form.
  out() << "sweep " << response.sweep_id();
  if (response.existing()) {
    out() << " already submitted (request id " << request.client_request_id() << ")";
  } else {
    out() << " submitted";
  }
  out() << ": " << response.jobs_total() << " jobs, " << response.jobs_new() << " new, "
        << response.jobs_reused() << " reused\n";
  return kExitOk;
}

absl::StatusOr<int> Session::Sweeps() {
  std::vector<std::vector<std::string>> rows = {
      {"SWEEP", "NAME", "OWNER", "STATE", "JOBS", "DONE", "FAILED", "CREATED"}};
  v1::ListSweepsRequest request;
  for (int page = 0; page < 1000; ++page) {
    v1::ListSweepsResponse response;
    RIB_RETURN_IF_ERROR(
        Unary(&v1::Coordinator::StubInterface::ListSweeps, request, &response));
    for (const v1::Sweep& s : response.sweeps()) {
      int total = 0, done = 0, failed = 0;
      for (const v1::JobStateCount& c : s.counts()) {
        total += c.count();
        if (c.state() == v1::JOB_STATE_SUCCEEDED) done += c.count();
        if (c.state() == v1::JOB_STATE_FAILED) failed += c.count();
      }
      rows.push_back({s.id(), s.name(), s.owner(), SweepStateName(s.state()),
                      absl::StrCat(total), absl::StrCat(done), absl::StrCat(failed),
                      FormatTimestamp(s.created_at())});
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  if (rows.size() == 1) {
    out() << "no sweeps\n";
  } else {
    out() << Columns(rows);
  }
  return kExitOk;
}

absl::StatusOr<int> Session::Status(const std::string& sweep_id) {
  v1::GetSweepRequest request;
  request.set_sweep_id(sweep_id);
  v1::Sweep sweep;
  RIB_RETURN_IF_ERROR(Unary(&v1::Coordinator::StubInterface::GetSweep, request, &sweep));
  out() << "sweep " << sweep.id();
  if (!sweep.name().empty()) out() << " (" << sweep.name() << ")";
  out() << ": " << SweepStateName(sweep.state()) << "\n";
  out() << "owner " << (sweep.owner().empty() ? "-" : sweep.owner()) << ", priority "
        << sweep.priority() << ", created " << FormatTimestamp(sweep.created_at())
        << "\n";
  if (sweep.models_size() > 0 || sweep.methods_size() > 0) {
    out() << "models: " << absl::StrJoin(sweep.models(), ", ")
          << "; methods: " << absl::StrJoin(sweep.methods(), ", ")
          << "; fine-tune datasets: " << sweep.finetune_datasets_size()
          << "; eval datasets: " << sweep.eval_datasets_size() << "\n";
  }
  std::map<int, int> counts;
  int total = 0;
  for (const v1::JobStateCount& c : sweep.counts()) {
    counts[c.state()] += c.count();
    total += c.count();
  }
  out() << "jobs: " << total << "\n";
  std::vector<std::vector<std::string>> rows;
  for (int s = v1::JOB_STATE_PENDING; s <= v1::JOB_STATE_CANCELLED; ++s) {
    rows.push_back(
        {"  " + JobStateName(static_cast<v1::JobState>(s)), absl::StrCat(counts[s])});
  }
  out() << Columns(rows);
  if (counts[v1::JOB_STATE_FAILED] > 0) {
    v1::ListJobsRequest jobs_request;
    jobs_request.set_sweep_id(sweep_id);
    jobs_request.set_state(v1::JOB_STATE_FAILED);
    jobs_request.set_page_size(20);
    v1::ListJobsResponse jobs;
    RIB_RETURN_IF_ERROR(
        Unary(&v1::Coordinator::StubInterface::ListJobs, jobs_request, &jobs));
    out() << "failed jobs:\n";
    for (const v1::Job& job : jobs.jobs()) {
      out() << "  " << job.id() << "  " << JobLabel(job) << "  attempt " << job.attempt()
            << ": " << OneLine(job.error()) << "\n";
    }
    if (jobs.total() > jobs.jobs_size()) {
      out() << "  ... " << jobs.total() - jobs.jobs_size() << " more (rib jobs --sweep "
            << sweep_id << " --state failed)\n";
    }
  }
  return kExitOk;
}

absl::StatusOr<int> Session::Jobs(const ParsedArgs& args) {
  v1::ListJobsRequest request;
  if (std::optional<std::string> sweep = args.Get("sweep")) request.set_sweep_id(*sweep);
  if (std::optional<std::string> state = args.Get("state")) {
    RIB_ASSIGN_OR_RETURN(v1::JobState parsed, ParseJobState(*state));
    request.set_state(parsed);
  }
  std::vector<std::vector<std::string>> rows = {
      {"JOB", "LABEL", "STATE", "ATTEMPT", "WORKER", "PROGRESS", "NOTE"}};
  for (int page = 0; page < 1000; ++page) {
    v1::ListJobsResponse response;
    RIB_RETURN_IF_ERROR(
        Unary(&v1::Coordinator::StubInterface::ListJobs, request, &response));
    for (const v1::Job& job : response.jobs()) {
      std::string note = job.reused() ? "reused" : "";
      if (!job.error().empty()) note = OneLine(job.error());
      rows.push_back({job.id(), JobLabel(job), JobStateName(job.state()),
                      absl::StrCat(job.attempt(), "/", job.max_attempts()),
                      job.worker_id().empty() ? "-" : job.worker_id(),
                      absl::StrFormat("%d%%", static_cast<int>(job.progress() * 100.0)),
                      note});
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  if (rows.size() == 1) {
    out() << "no jobs\n";
  } else {
    out() << Columns(rows);
  }
  return kExitOk;
}

absl::StatusOr<int> Session::Workers() {
  v1::ListWorkersResponse response;
  RIB_RETURN_IF_ERROR(Unary(&v1::Coordinator::StubInterface::ListWorkers,
                            v1::ListWorkersRequest(), &response));
  if (response.workers().empty()) {
    out() << "no workers\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"WORKER", "NAME", "STATE", "DEVICES", "FREE", "RUNNING", "HEARTBEAT"}};
  for (const v1::Worker& w : response.workers()) {
    std::vector<std::string> devices;
    for (const v1::Device& d : w.devices())
      devices.push_back(absl::StrCat(d.kind(), ":", d.count()));
    std::string state = v1::WorkerState_Name(w.state());
    state = absl::AsciiStrToLower(state.substr(std::string("WORKER_STATE_").size()));
    rows.push_back({w.id(), w.name(), state, absl::StrJoin(devices, ","),
                    absl::StrCat(w.free_devices()), absl::StrCat(w.running_jobs_size()),
                    FormatTimestamp(w.last_heartbeat())});
  }
  out() << Columns(rows);
  return kExitOk;
}

absl::StatusOr<int> Session::Watch(const ParsedArgs& args) {
  const std::string& sweep_id = args.positionals[0];
  v1::WatchSweepRequest request;
  request.set_sweep_id(sweep_id);
  request.set_include_snapshot(true);
  WatchOptions watch_options;
  watch_options.terminal = io_.out_is_terminal;
  if (io_.terminal_width > 0) watch_options.width = io_.terminal_width;
  watch_options.show_subsets = args.Has("subsets");
  WatchPrinter printer(io_.out, watch_options);

  // A coordinator may restart under a long watch (DESIGN §1: it can be killed at any
  // time). When a stream that had connected breaks, reconnect with a fresh snapshot,
  // backing off, until options_.watch_reconnect_window passes without a stream that
  // stayed up for kHealthyStream.
  constexpr absl::Duration kHealthyStream = absl::Seconds(10);
  bool connected_once = false;
  bool announced = false;
  absl::Time outage_start = absl::InfinitePast();
  absl::Duration backoff = absl::Milliseconds(200);
  for (;;) {
    grpc::ClientContext ctx;
    Prepare(&ctx, /*deadline=*/false);  // a sweep can run for days
    const absl::Time opened = absl::Now();
    std::unique_ptr<grpc::ClientReaderInterface<v1::SweepEvent>> reader =
        stub_->WatchSweep(&ctx, request);
    v1::SweepEvent event;
    bool got_events = false;
    while (reader->Read(&event)) {
      if (!got_events && announced) printer.Note("reconnected");
      got_events = true;
      connected_once = true;
      announced = false;
      printer.OnEvent(event);
      if (printer.final_state()) {
        ctx.TryCancel();  // the server ends the stream here; do not depend on it
        break;
      }
    }
    grpc::Status status = reader->Finish();
    if (printer.final_state()) break;

    const bool retryable =
        status.ok() || status.error_code() == grpc::StatusCode::UNAVAILABLE;
    const absl::Time now = absl::Now();
    if (got_events && now - opened >= kHealthyStream) {
      outage_start = now;
      backoff = absl::Milliseconds(200);
    } else if (outage_start == absl::InfinitePast()) {
      outage_start = now;
    }
    if (!connected_once || !retryable ||
        now - outage_start >= options_.watch_reconnect_window) {
      printer.Finish();
      RIB_RETURN_IF_ERROR(FromGrpc(status));
      return absl::UnavailableError("the event stream ended before the sweep finished");
    }
    if (!announced) {
      printer.Note(absl::StrCat(
          "lost the event stream (",
          status.ok() ? "ended early"
                      : absl::StatusCodeToString(
                            static_cast<absl::StatusCode>(status.error_code())),
          "); reconnecting"));
      announced = true;
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
  printer.Finish();
  std::map<v1::JobState, int> counts = printer.StateCounts();
  std::vector<std::string> parts;
  for (const auto& [state, n] : counts)
    parts.push_back(absl::StrCat(n, " ", JobStateName(state)));
  const v1::SweepState final_state = *printer.final_state();
  out() << "sweep " << sweep_id << " " << SweepStateName(final_state);
  if (!parts.empty()) out() << " (" << absl::StrJoin(parts, ", ") << ")";
  out() << "\n";
  if (final_state == v1::SWEEP_STATE_SUCCEEDED) return kExitOk;
  *io_.err << "rib: watch: sweep " << sweep_id << " ended "
           << SweepStateName(final_state);
  if (counts[v1::JOB_STATE_FAILED] > 0) {
    *io_.err << ": " << counts[v1::JOB_STATE_FAILED] << " of " << printer.jobs_seen()
             << " jobs failed (rib status " << sweep_id << ")";
  }
  *io_.err << "\n";
  return kExitSweepFailed;
}

absl::StatusOr<int> Session::Matrix(const ParsedArgs& args) {
  const std::string& sweep_id = args.positionals[0];
  const std::string format = args.Get("format").value_or("table");
  if (format != "table" && format != "csv" && format != "json" && format != "latex") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--format: unknown format '", format, "' (expected table, csv, json or latex)"));
  }
  v1::GetMatrixRequest request;
  request.set_sweep_id(sweep_id);
  request.set_model(args.Get("model").value_or(""));
  request.set_method(args.Get("method").value_or(""));
  v1::GetMatrixResponse response;
  RIB_RETURN_IF_ERROR(
      Unary(&v1::Coordinator::StubInterface::GetMatrix, request, &response));
  std::vector<v1::Matrix> matrices(response.matrices().begin(),
                                   response.matrices().end());
  if (matrices.empty()) {
    std::string filter;
    if (!request.model().empty()) absl::StrAppend(&filter, " model ", request.model());
    if (!request.method().empty()) absl::StrAppend(&filter, " method ", request.method());
    return absl::NotFoundError(absl::StrCat("no results yet for sweep ", sweep_id,
                                            filter.empty() ? "" : " and", filter));
  }

  if (std::optional<std::string> svg = args.Get("svg")) {
    RIB_RETURN_IF_ERROR(WriteFile(*svg, RenderHeatmapSvg(matrices)));
  }
  std::optional<std::string> out_dir = args.Get("out");
  if (out_dir) {
    std::error_code ec;
    std::filesystem::create_directories(*out_dir, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create ", *out_dir, ": ", ec.message()));
    }
    const std::filesystem::path dir(*out_dir);
    RIB_RETURN_IF_ERROR(WriteFile((dir / "matrix.csv").string(), FormatCsv(matrices)));
    RIB_RETURN_IF_ERROR(WriteFile((dir / "matrix.json").string(), FormatJson(matrices)));
    for (const v1::Matrix& m : matrices) {
      std::string name = absl::StrCat("heatmap_", SafeFileName(m.model()), "_",
                                      SafeFileName(m.method()), ".svg");
      RIB_RETURN_IF_ERROR(WriteFile((dir / name).string(), RenderHeatmapSvg({m})));
    }
    RIB_RETURN_IF_ERROR(
        WriteFile((dir / "summary.md").string(),
                  absl::StrCat(FormatSummaryMarkdown(matrices, "rib sweep " + sweep_id),
                               "\n", FormatMatricesMarkdown(matrices))));
  }

  if (format == "csv") {
    out() << FormatCsv(matrices);
  } else if (format == "json") {
    out() << FormatJson(matrices);
  } else if (format == "latex") {
    out() << FormatLatex(matrices);
  } else {
    TableOptions table_options;
    table_options.color = color_;
    out() << FormatTable(matrices, table_options);
    if (out_dir) out() << "\nreport written to " << *out_dir << "\n";
  }
  return kExitOk;
}

absl::StatusOr<int> Session::SweepAction(const std::string& command,
                                         const std::string& sweep_id) {
  v1::Sweep sweep;
  if (command == "cancel") {
    v1::CancelSweepRequest request;
    request.set_sweep_id(sweep_id);
    RIB_RETURN_IF_ERROR(
        Unary(&v1::Coordinator::StubInterface::CancelSweep, request, &sweep));
  } else {
    v1::RetrySweepRequest request;
    request.set_sweep_id(sweep_id);
    RIB_RETURN_IF_ERROR(
        Unary(&v1::Coordinator::StubInterface::RetrySweep, request, &sweep));
  }
  out() << (command == "cancel" ? "cancelled" : "retrying") << " sweep " << sweep.id()
        << ": " << SweepStateName(sweep.state()) << "\n";
  return kExitOk;
}

absl::StatusOr<int> Session::Drain(const std::string& worker_id) {
  v1::DrainWorkerRequest request;
  request.set_worker_id(worker_id);
  v1::Worker worker;
  RIB_RETURN_IF_ERROR(
      Unary(&v1::Coordinator::StubInterface::DrainWorker, request, &worker));
  std::string state = v1::WorkerState_Name(worker.state());
  state = absl::AsciiStrToLower(state.substr(std::string("WORKER_STATE_").size()));
  out() << "worker " << worker.id() << ": " << state << ", " << worker.running_jobs_size()
        << " jobs still running\n";
  return kExitOk;
}

}  // namespace

std::string DefaultRequestId(const std::string& user, bool force,
                             const std::string& content) {
  std::string digest = Sha256Hex(absl::StrCat(
      "rib-submit\n", user, "\n", force ? "force" : "no-force", "\n", content));
  return "cli-" + digest.substr(0, 32);
}

std::string UsageText() {
  std::string text =
      "usage: rib [--coordinator HOST:PORT] [--token T] [--no-color] COMMAND [ARGS]\n\n"
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

  // The command is the first argument that is not a global flag (or its value).
  std::string command;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (command.empty() && !a.empty() && a[0] != '-') {
      command = a;
      continue;
    }
    rest.push_back(a);
    if (command.empty() && (a == "--coordinator" || a == "--token") &&
        i + 1 < args.size()) {
      rest.push_back(args[++i]);
    }
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

  absl::StatusOr<ConnectionConfig> config =
      ResolveConnection(parsed->Get("coordinator"), parsed->Get("token"), fixed.env);
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
    channel = grpc::CreateCustomChannel(config->coordinator,
                                        grpc::InsecureChannelCredentials(), channel_args);
    stub = v1::Coordinator::NewStub(channel);
  }
  Session session(fixed, options, *config, channel, std::move(stub), color);
  absl::StatusOr<int> code = session.Run(command, *parsed);
  fixed.out->flush();
  if (code.ok()) return *code;
  std::string message = OneLine(std::string(code.status().message()));
  if (session.unreachable()) {
    *fixed.err << "rib: " << message << "\n";
  } else {
    *fixed.err << "rib: " << command << ": " << message << "\n";
  }
  return kExitError;
}

}  // namespace rib::client
