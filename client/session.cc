#include "client/session.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
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
#include "common/robustness.h"
#include "common/status_macros.h"
#include "common/version.h"
#include "grpcpp/grpcpp.h"

namespace rib::client::internal {

std::string JobLabel(const v1::Job& job) {
  std::string label =
      absl::StrCat(job.spec().model().name(), "/", job.spec().method().name());
  if (!job.spec().finetune_dataset().empty()) {
    absl::StrAppend(&label, "/", job.spec().finetune_dataset());
  }
  return label;
}

namespace {

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

}  // namespace

ListingCell TimestampCell(const google::protobuf::Timestamp& ts) {
  return ListingCell{FormatTimestamp(ts), ts.seconds() <= 0
                                              ? JsonValue::Null()
                                              : JsonValue::Int(ts.seconds())};
}

ListingCell WorkerCell(const std::string& worker_id) {
  return ListingCell{worker_id.empty() ? "-" : worker_id, JsonValue::String(worker_id)};
}

std::string FormatTimestamp(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(ts.seconds()),
                          absl::LocalTimeZone());
}

std::string OneLine(const std::string& message) {
  std::string text(absl::StripAsciiWhitespace(message));
  absl::StrReplaceAll({{"\r\n", "; "}, {"\n", "; "}, {"\r", "; "}}, &text);
  return text;
}

absl::StatusOr<int> Session::Run(const std::string& command, const ParsedArgs& args) {
  const std::vector<std::string>& pos = args.positionals;
  if (command == "submit") return Submit(args);
  if (command == "sweeps") return Sweeps(args);
  if (command == "status") return Status(pos[0], args);
  if (command == "jobs") return Jobs(args);
  if (command == "workers") return Workers(args);
  if (command == "job") return Job(pos[0], args);
  if (command == "plan") return Plan(args);
  if (command == "logs") return Logs(pos[0], args);
  if (command == "results") return Results(pos[0], args);
  if (command == "watch") return Watch(args);
  if (command == "matrix") return Matrix(args);
  if (command == "cancel" || command == "retry") return SweepAction(command, pos[0]);
  if (command == "drain") return Drain(pos[0]);
  if (command == "undrain") return Undrain(pos[0]);
  if (command == "priority") return Priority(pos[0], pos[1]);
  if (command == "login") return Login(args);
  if (command == "whoami") return WhoAmI(args);
  if (command == "token create") return TokenCreate(args);
  if (command == "token list") return TokenList(args);
  if (command == "token revoke") return TokenRevoke(pos[0]);
  if (command == "quota set") return QuotaSet(pos[0], args);
  if (command == "quota list") return QuotaList(args);
  return absl::InternalError("unhandled command " + command);
}

absl::StatusOr<v1::SubmitSweepRequest> Session::SweepRequest(const ParsedArgs& args) {
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
  return request;
}

absl::StatusOr<int> Session::Submit(const ParsedArgs& args) {
  if (args.Has("dry-run")) return Plan(args);
  RIB_ASSIGN_OR_RETURN(const v1::SubmitSweepRequest request, SweepRequest(args));
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
  // What each model runs with, as the coordinator stored it (issue 17.3: hub weights
  // bring their own arch and preprocessing): one line per model, from its pre job.
  v1::ListJobsRequest jobs;
  jobs.set_sweep_id(response.sweep_id());
  auto numbers = [](const google::protobuf::RepeatedField<double>& values) {
    return absl::StrJoin(values, ",", [](std::string* o, double v) {
      absl::StrAppendFormat(o, "%.8g", v);
    });
  };
  const absl::Status listed = ForEachJob(jobs, [&](const v1::Job& job) {
    if (job.spec().method().kind() != "pre") return;
    const v1::ModelSpec& m = job.spec().model();
    const v1::Preprocessing& p = m.preprocessing();
    out() << "  model " << m.name() << ": " << m.arch() << ", " << m.num_classes()
          << " classes, weights " << m.weights() << " (sha256 "
          << m.weights_digest().substr(0, 12) << "), " << p.image_size() << " px, crop "
          << absl::StrFormat("%.8g", p.crop_pct()) << ", " << p.interpolation()
          << ", mean " << numbers(p.mean()) << ", std " << numbers(p.std()) << "\n";
  });
  // The sweep is submitted either way; only the summary above is missing.
  if (!listed.ok()) {
    *io_.err << "rib: cannot list the sweep's models: " << listed.message() << "\n";
  }
  return kExitOk;
}

absl::StatusOr<int> Session::Sweeps(const ParsedArgs& args) {
  RIB_ASSIGN_OR_RETURN(const OutputFormat format, ParseOutputFormat(args.Get("output")));
  Listing listing;
  listing.keys = {"sweep", "name", "owner", "state", "jobs", "done", "failed", "created"};
  listing.titles = {"SWEEP", "NAME", "OWNER",  "STATE",
                    "JOBS",  "DONE", "FAILED", "CREATED"};
  listing.empty_table = "no sweeps";
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
      listing.rows.push_back({TextCell(s.id()), TextCell(s.name()), TextCell(s.owner()),
                              TextCell(SweepStateName(s.state())), IntCell(total),
                              IntCell(done), IntCell(failed),
                              TimestampCell(s.created_at())});
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  out() << FormatListing(listing, format);
  return kExitOk;
}

absl::StatusOr<int> Session::Status(const std::string& sweep_id, const ParsedArgs& args) {
  RIB_ASSIGN_OR_RETURN(const OutputFormat format, ParseOutputFormat(args.Get("output")));
  v1::GetSweepRequest request;
  request.set_sweep_id(sweep_id);
  v1::Sweep sweep;
  RIB_RETURN_IF_ERROR(Unary(&v1::Coordinator::StubInterface::GetSweep, request, &sweep));
  if (format != OutputFormat::kTable) {
    // One row: the sweep and its job count per state.
    Listing listing;
    listing.keys = {"sweep",    "name",    "owner",       "state",
                    "priority", "created", "cancelled_by"};
    listing.single = true;
    std::vector<ListingCell> row = {
        TextCell(sweep.id()),          TextCell(sweep.name()),
        TextCell(sweep.owner()),       TextCell(SweepStateName(sweep.state())),
        IntCell(sweep.priority()),     TimestampCell(sweep.created_at()),
        TextCell(sweep.cancelled_by())};
    std::map<int, int> counts;
    int total = 0;
    for (const v1::JobStateCount& c : sweep.counts()) {
      counts[c.state()] += c.count();
      total += c.count();
    }
    listing.keys.push_back("jobs");
    row.push_back(IntCell(total));
    for (int s = v1::JOB_STATE_PENDING; s <= v1::JOB_STATE_CANCELLED; ++s) {
      listing.keys.push_back(JobStateName(static_cast<v1::JobState>(s)));
      row.push_back(IntCell(counts[s]));
    }
    listing.rows.push_back(std::move(row));
    out() << FormatListing(listing, format);
    return kExitOk;
  }
  out() << "sweep " << sweep.id();
  if (!sweep.name().empty()) out() << " (" << sweep.name() << ")";
  out() << ": " << SweepStateName(sweep.state()) << "\n";
  out() << "owner " << (sweep.owner().empty() ? "-" : sweep.owner()) << ", priority "
        << sweep.priority() << ", created " << FormatTimestamp(sweep.created_at())
        << "\n";
  if (!sweep.cancelled_by().empty())
    out() << "cancelled by " << sweep.cancelled_by() << "\n";
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
  RIB_ASSIGN_OR_RETURN(const OutputFormat format, ParseOutputFormat(args.Get("output")));
  v1::ListJobsRequest request;
  if (std::optional<std::string> sweep = args.Get("sweep")) request.set_sweep_id(*sweep);
  if (std::optional<std::string> state = args.Get("state")) {
    RIB_ASSIGN_OR_RETURN(v1::JobState parsed, ParseJobState(*state));
    request.set_state(parsed);
  }
  Listing listing;
  listing.keys = {"job",    "label",    "state",  "attempt", "max_attempts",
                  "worker", "progress", "reused", "error"};
  listing.titles = {"JOB",    "LABEL",    "STATE", "ATTEMPT", "",
                    "WORKER", "PROGRESS", "NOTE",  ""};
  listing.empty_table = "no jobs";
  RIB_RETURN_IF_ERROR(ForEachJob(request, [&](const v1::Job& job) {
    const std::string note = !job.error().empty() ? OneLine(job.error())
                             : job.reused()       ? "reused"
                                                  : "";
    listing.rows.push_back(
        {TextCell(job.id()), TextCell(JobLabel(job)), TextCell(JobStateName(job.state())),
         ListingCell{absl::StrCat(job.attempt(), "/", job.max_attempts()),
                     JsonValue::Int(job.attempt())},
         ListingCell{"", JsonValue::Int(job.max_attempts())}, WorkerCell(job.worker_id()),
         ListingCell{absl::StrFormat("%d%%", static_cast<int>(job.progress() * 100.0)),
                     JsonValue::Number(job.progress())},
         ListingCell{note, JsonValue::Bool(job.reused())},
         ListingCell{"", JsonValue::String(job.error())}});
  }));
  out() << FormatListing(listing, format);
  return kExitOk;
}

absl::Status Session::ForEachJob(v1::ListJobsRequest request,
                                 const std::function<void(const v1::Job&)>& visit) {
  for (int page = 0; page < 1000; ++page) {
    v1::ListJobsResponse response;
    RIB_RETURN_IF_ERROR(
        Unary(&v1::Coordinator::StubInterface::ListJobs, request, &response));
    for (const v1::Job& job : response.jobs()) visit(job);
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Session::Results(const std::string& sweep_id,
                                     const ParsedArgs& args) {
  RIB_ASSIGN_OR_RETURN(const OutputFormat format, ParseOutputFormat(args.Get("output")));
  // The sweep must exist: an unknown id is NOT_FOUND, not an empty table.
  v1::GetSweepRequest sweep_request;
  sweep_request.set_sweep_id(sweep_id);
  v1::Sweep sweep;
  RIB_RETURN_IF_ERROR(
      Unary(&v1::Coordinator::StubInterface::GetSweep, sweep_request, &sweep));
  Listing listing;
  listing.keys = {
      "model", "method",  "finetune_dataset", "eval_dataset", "subset", "correct",
      "total", "skipped", "accuracy",         "se",           "attempt", "worker",
      "job_state", "job"};
  listing.titles = {"MODEL",   "METHOD",   "FINE-TUNE", "EVAL",    "SUBSET",
                    "CORRECT", "TOTAL",    "SKIPPED",   "ACCURACY", "SE",
                    "ATTEMPT", "WORKER",   "STATE",     "JOB"};
  // How the results were computed (the attempt they come from): JSON and CSV only.
  for (const std::string& k : ReproKeys()) {
    listing.keys.push_back(k);
    listing.titles.push_back("");
  }
  listing.empty_table = "no results yet";
  v1::ListJobsRequest request;
  request.set_sweep_id(sweep_id);
  std::vector<std::string> job_ids;
  RIB_RETURN_IF_ERROR(
      ForEachJob(request, [&](const v1::Job& job) { job_ids.push_back(job.id()); }));
  // ListJobs leaves results out; DescribeJob has them (a reused job's are the
  // original's), and the attempts with their reproducibility records.
  for (const std::string& id : job_ids) {
    v1::DescribeJobRequest get;
    get.set_job_id(id);
    v1::JobDetail detail;
    RIB_RETURN_IF_ERROR(
        Unary(&v1::Coordinator::StubInterface::DescribeJob, get, &detail));
    const v1::Job& job = detail.job();
    const v1::Attempt* attempt = ResultAttempt(detail);
    const std::vector<ListingCell> repro =
        ReproCells(attempt != nullptr && attempt->has_repro() ? &attempt->repro() : nullptr);
    for (const v1::Accuracy& a : job.results()) {
      ListingCell accuracy{"-", JsonValue::Null()};
      ListingCell se{"-", JsonValue::Null()};
      if (a.total() > 0) {
        const double fraction = static_cast<double>(a.correct()) / a.total();
        accuracy =
            ListingCell{FormatPercent(fraction) + "%", JsonValue::Number(fraction)};
        // The binomial SE, by the one rule the matrix uses (common/robustness.h).
        absl::StatusOr<double> e = BinomialStandardError(a.correct(), a.total());
        if (e.ok()) se = ListingCell{FormatPercent(*e), JsonValue::Number(*e)};
      }
      listing.rows.push_back(
          {TextCell(job.spec().model().name()), TextCell(job.spec().method().name()),
           TextCell(job.spec().finetune_dataset()), TextCell(a.dataset()),
           TextCell(a.subset()), IntCell(a.correct()), IntCell(a.total()),
           IntCell(a.skipped()), accuracy, se, IntCell(job.attempt()),
           WorkerCell(job.worker_id()), TextCell(JobStateName(job.state())),
           TextCell(job.id())});
      listing.rows.back().insert(listing.rows.back().end(), repro.begin(), repro.end());
    }
  }
  out() << FormatListing(listing, format);
  return kExitOk;
}

namespace {

// A worker's datasets: "fmnist-val,fmnist-v2,..." in the table, an array in JSON.
ListingCell DatasetsCell(const v1::Worker& w) {
  return ListingCell{w.datasets().empty() ? "-" : absl::StrJoin(w.datasets(), ","),
                     JsonValue::StringArray({w.datasets().begin(), w.datasets().end()})};
}

}  // namespace

absl::StatusOr<int> Session::Workers(const ParsedArgs& args) {
  RIB_ASSIGN_OR_RETURN(const OutputFormat format, ParseOutputFormat(args.Get("output")));
  v1::ListWorkersResponse response;
  RIB_RETURN_IF_ERROR(Unary(&v1::Coordinator::StubInterface::ListWorkers,
                            v1::ListWorkersRequest(), &response));
  Listing listing;
  listing.keys = {"worker",       "name",         "state",          "devices",
                  "free_devices", "running_jobs", "last_heartbeat", "datasets"};
  listing.titles = {"WORKER",  "NAME",      "STATE",   "DEVICES",
                    "FREE",    "RUNNING",   "HEARTBEAT", "DATASETS"};
  listing.empty_table = "no workers";
  for (const v1::Worker& w : response.workers()) {
    std::vector<std::string> devices;
    for (const v1::Device& d : w.devices())
      devices.push_back(absl::StrCat(d.kind(), ":", d.count()));
    std::string state = v1::WorkerState_Name(w.state());
    state = absl::AsciiStrToLower(state.substr(std::string("WORKER_STATE_").size()));
    listing.rows.push_back({TextCell(w.id()), TextCell(w.name()), TextCell(state),
                            TextCell(absl::StrJoin(devices, ",")),
                            IntCell(w.free_devices()), IntCell(w.running_jobs_size()),
                            TimestampCell(w.last_heartbeat()), DatasetsCell(w)});
  }
  out() << FormatListing(listing, format);
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
  if (final_state == v1::SWEEP_STATE_CANCELLED && !printer.final_actor().empty()) {
    out() << " by " << printer.final_actor();
  }
  if (!parts.empty()) out() << " (" << absl::StrJoin(parts, ", ") << ")";
  out() << "\n";
  if (final_state == v1::SWEEP_STATE_SUCCEEDED) return kExitOk;
  *io_.err << "rib: watch: sweep " << sweep_id << " ended "
           << SweepStateName(final_state);
  if (final_state == v1::SWEEP_STATE_CANCELLED && !printer.final_actor().empty()) {
    *io_.err << " by " << printer.final_actor();
  }
  if (counts[v1::JOB_STATE_FAILED] > 0) {
    *io_.err << ": " << counts[v1::JOB_STATE_FAILED] << " of " << printer.jobs_seen()
             << " jobs failed (rib status " << sweep_id << ")";
  }
  *io_.err << "\n";
  return kExitSweepFailed;
}

absl::StatusOr<int> Session::Matrix(const ParsedArgs& args) {
  const std::string& sweep_id = args.positionals[0];
  // -o is every listing command's flag; --format is the older name.
  const std::string format =
      args.Get("format").value_or(args.Get("output").value_or("table"));
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
    // The paper's figures: the headline bar chart, a radar per (model, fine-tune set).
    RIB_RETURN_IF_ERROR(
        WriteFile((dir / "mean_ood_bars.svg").string(), RenderBarChartSvg(matrices)));
    // The paper's §5 scatter, when otdd jobs have reported.
    if (std::string scatter = RenderOtddScatterSvg(matrices); !scatter.empty()) {
      RIB_RETURN_IF_ERROR(WriteFile((dir / "otdd_vs_change.svg").string(), scatter));
    }
    std::set<std::pair<std::string, std::string>> radars;
    for (const v1::Matrix& m : matrices) {
      for (const v1::MatrixRow& row : m.rows()) {
        if (!radars.insert({m.model(), row.finetune_dataset()}).second) continue;
        std::string name = absl::StrCat("radar_", SafeFileName(m.model()), "_",
                                        SafeFileName(row.finetune_dataset()), ".svg");
        RIB_RETURN_IF_ERROR(WriteFile((dir / name).string(),
                                      RenderRadarSvg(matrices, m.model(),
                                                     row.finetune_dataset())));
      }
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

}  // namespace rib::client::internal
