// rib-bench-coordinator: a load generator of simulated workers against a running
// rib-coordinator (bench/coordinator/run.sh starts one, with a throwaway PostgreSQL).
// Each simulated worker is one thread with blocking stubs (many share a few channels):
// it registers, then loops AcquireJob → (Heartbeat with its lease when one is due) →
// ReportResults(started, one result per eval dataset, finished ok), i.e. a job that
// takes no time (a closed loop: it measures capacity, and latency is then queueing:
// workers / grants per second), or --job_time between started and the results,
// heartbeating (an offered load of at most workers / job_time). A refill thread keeps about --queued jobs QUEUED by submitting
// sweeps (force: nothing is reused). Prints one table row per (workers, queued).
// Not a test: ctest never runs it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/program.h"
#include "grpcpp/grpcpp.h"
#include "rib/v1/coordinator.grpc.pb.h"
#include "rib/v1/worker.grpc.pb.h"

ABSL_FLAG(std::string, address, "", "host:port of the coordinator");
ABSL_FLAG(std::string, user_token_file, "", "file with a user token (submits sweeps)");
ABSL_FLAG(std::string, worker_token_file, "", "file with a worker token");
ABSL_FLAG(std::string, weights, "models/bench.safetensors",
          "weights path (under the coordinator's artifact root) every model names");
ABSL_FLAG(std::string, workers, "10,100,1000", "simulated worker counts, comma-separated");
ABSL_FLAG(std::string, queued, "1000,100000", "queue depths, comma-separated");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2), "per run, not measured");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "per run, measured");
ABSL_FLAG(int, channels, 16, "gRPC channels (TCP connections) the workers share");
ABSL_FLAG(int, eval_datasets, 2, "eval datasets per job (1..9): results per report");
ABSL_FLAG(int, big_sweep_jobs, 20000, "jobs of the timed SubmitSweep (a multiple of 9)");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(1), "per simulated worker");
ABSL_FLAG(absl::Duration, job_time, absl::ZeroDuration(),
          "how long each simulated job runs between its started and its results, "
          "heartbeating meanwhile; 0 (default): no time, a closed loop that measures "
          "capacity. With N workers the offered load is at most N / job_time grants/s");
ABSL_FLAG(absl::Duration, rpc_deadline, absl::Seconds(60), "of every call");

namespace rib::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kJobsPerModel = 9;  // one pre job + ft on each of the 8 downstream sets
const std::vector<std::string> kDatasets = {
    "fmnist-val",    "fmnist-v2",        "fmnist-a",       "fmnist-r",      "fmnist-sketch",
    "fmnist-objectnet", "fmnist-cartoon", "fmnist-drawing", "fmnist-c"};

std::string ReadToken(const std::string& path) {
  std::ifstream f(path);
  std::string t;
  std::getline(f, t);
  if (t.empty()) {
    std::fprintf(stderr, "rib-bench-coordinator: no token in '%s'\n", path.c_str());
    std::exit(2);
  }
  return t;
}

std::vector<int> ParseList(const std::string& text, const char* flag) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v <= 0) {
      std::fprintf(stderr, "rib-bench-coordinator: --%s: '%s' is not a positive count\n",
                   flag, std::string(part).c_str());
      std::exit(2);
    }
    out.push_back(v);
  }
  return out;
}

// Latencies in microseconds, one vector per thread, merged after a run.
struct Samples {
  std::vector<int64_t> acquire, heartbeat, report;
};

double Percentile(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k] / 1000.0;
}

class Bench {
 public:
  Bench()
      : user_token_(ReadToken(absl::GetFlag(FLAGS_user_token_file))),
        worker_token_(ReadToken(absl::GetFlag(FLAGS_worker_token_file))) {
    for (int i = 0; i < absl::GetFlag(FLAGS_channels); ++i) {
      grpc::ChannelArguments args;
      args.SetInt("rib.bench.channel", i);  // distinct args: one connection each
      args.SetInt(GRPC_ARG_MAX_CONCURRENT_STREAMS, 10000);
      channels_.push_back(grpc::CreateCustomChannel(
          absl::GetFlag(FLAGS_address), grpc::InsecureChannelCredentials(), args));
    }
    coordinator_ = v1::Coordinator::NewStub(channels_[0]);
  }

  void Context(grpc::ClientContext* ctx, const std::string& token) const {
    ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() +
                      absl::ToChronoSeconds(absl::GetFlag(FLAGS_rpc_deadline)));
  }

  // A sweep of `jobs` jobs (rounded down to whole models); returns its id and how long
  // SubmitSweep took.
  std::pair<std::string, absl::Duration> Submit(int jobs) {
    const int models = std::max(1, jobs / kJobsPerModel);
    std::ostringstream yaml;
    yaml << "name: bench-" << ++sweeps_ << "\nsuite: fmnist-rib\nmax_attempts: 3\n"
         << "devices: 1\nmethods: [ft]\neval_datasets: [";
    for (int i = 0; i < absl::GetFlag(FLAGS_eval_datasets); ++i) {
      yaml << (i ? ", " : "") << kDatasets[i];
    }
    yaml << "]\ntraining: {epochs: 1, max_steps: 1}\nmodels:\n";
    for (int m = 0; m < models; ++m) {
      yaml << "  - {name: m" << m << ", arch: fmnist_resnet, weights: "
           << absl::GetFlag(FLAGS_weights) << "}\n";
    }
    v1::SubmitSweepRequest req;
    req.set_sweep_yaml(yaml.str());
    req.set_force(true);
    req.set_client_request_id(absl::StrCat("bench-", absl::ToUnixNanos(absl::Now())));
    v1::SubmitSweepResponse resp;
    grpc::ClientContext ctx;
    Context(&ctx, user_token_);
    const absl::Time start = absl::Now();
    grpc::Status s = coordinator_->SubmitSweep(&ctx, req, &resp);
    const absl::Duration took = absl::Now() - start;
    if (!s.ok()) {
      std::fprintf(stderr, "SubmitSweep of %d jobs failed: %s\n", models * kJobsPerModel,
                   s.error_message().c_str());
      std::exit(1);
    }
    submitted_ += resp.jobs_total();
    return {resp.sweep_id(), took};
  }

  absl::Duration GetMatrix(const std::string& sweep_id) {
    v1::GetMatrixRequest req;
    req.set_sweep_id(sweep_id);
    v1::GetMatrixResponse resp;
    grpc::ClientContext ctx;
    Context(&ctx, user_token_);
    const absl::Time start = absl::Now();
    grpc::Status s = coordinator_->GetMatrix(&ctx, req, &resp);
    if (!s.ok()) std::fprintf(stderr, "GetMatrix failed: %s\n", s.error_message().c_str());
    return absl::Now() - start;
  }

  int64_t Queued() const { return submitted_ - granted_.load(); }
  int64_t Granted() const { return granted_.load(); }

  // Submits until about `target` jobs are queued.
  void Fill(int64_t target) {
    while (Queued() < target) {
      Submit(static_cast<int>(std::min<int64_t>(target - Queued() + kJobsPerModel,
                                                absl::GetFlag(FLAGS_big_sweep_jobs))));
    }
  }

  // One row of the table.
  void Run(int workers, int64_t queued) {
    Fill(queued);
    std::atomic<bool> stop{false}, measuring{false};
    std::atomic<int64_t> grants{0}, errors{0};
    std::vector<Samples> samples(workers);
    std::vector<std::thread> threads;
    const int run = ++runs_;
    for (int i = 0; i < workers; ++i) {
      threads.emplace_back([&, i] {
        Worker(run, i, stop, measuring, grants, errors, samples[i]);
      });
    }
    // Keep the queue between 3/4 of `queued` and `queued`.
    std::thread refill([&] {
      const int64_t chunk = std::max<int64_t>(
          kJobsPerModel, std::min<int64_t>(queued / 4, absl::GetFlag(FLAGS_big_sweep_jobs)));
      while (!stop.load()) {
        if (Queued() < queued - chunk) {
          Submit(static_cast<int>(chunk));
          ++refills_;
        } else {
          absl::SleepFor(absl::Milliseconds(20));
        }
      }
    });
    absl::SleepFor(absl::GetFlag(FLAGS_warmup));
    const int64_t refills_before = refills_.load();
    measuring = true;
    const absl::Time start = absl::Now();
    absl::SleepFor(absl::GetFlag(FLAGS_duration));
    measuring = false;
    const absl::Duration measured = absl::Now() - start;
    const int64_t refills = refills_.load() - refills_before;
    stop = true;
    for (auto& t : threads) t.join();
    refill.join();
    Samples all;
    for (Samples& s : samples) {
      all.acquire.insert(all.acquire.end(), s.acquire.begin(), s.acquire.end());
      all.heartbeat.insert(all.heartbeat.end(), s.heartbeat.begin(), s.heartbeat.end());
      all.report.insert(all.report.end(), s.report.begin(), s.report.end());
    }
    std::printf("| %7d | %7lld | %9.1f | %8.1f | %8.1f | %8.1f | %8.1f | %7lld | %6lld |\n",
                workers, static_cast<long long>(queued),
                grants.load() / absl::ToDoubleSeconds(measured),
                Percentile(all.acquire, 0.5), Percentile(all.acquire, 0.99),
                Percentile(all.heartbeat, 0.99), Percentile(all.report, 0.99),
                static_cast<long long>(refills), static_cast<long long>(errors.load()));
    std::fflush(stdout);
  }

 private:
  void Worker(int run, int index, const std::atomic<bool>& stop,
              const std::atomic<bool>& measuring, std::atomic<int64_t>& grants,
              std::atomic<int64_t>& errors, Samples& out) {
    auto stub = v1::WorkerApi::NewStub(channels_[index % channels_.size()]);
    auto micros = [](Clock::time_point since) {
      return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - since)
          .count();
    };
    std::string id;
    {
      v1::RegisterRequest req;
      req.set_name(absl::StrCat("bench-", run, "-", index));
      v1::Device* d = req.add_devices();
      d->set_kind("cpu");
      d->set_count(1);
      for (const std::string& ds : kDatasets) req.add_datasets(ds);
      v1::RegisterResponse resp;
      grpc::ClientContext ctx;
      Context(&ctx, worker_token_);
      grpc::Status s = stub->Register(&ctx, req, &resp);
      if (!s.ok()) {
        std::fprintf(stderr, "Register failed: %s\n", s.error_message().c_str());
        ++errors;
        return;
      }
      id = resp.worker_id();
    }
    const auto hb_every = absl::ToChronoMilliseconds(absl::GetFlag(FLAGS_heartbeat_interval));
    // Spread the first heartbeats over one interval.
    auto next_hb = Clock::now() + hb_every * (index % 1000) / 1000;
    while (!stop.load()) {
      v1::AcquireJobRequest areq;
      areq.set_worker_id(id);
      areq.set_free_devices(1);
      areq.set_wait_ms(1000);
      v1::AcquireJobResponse lease;
      auto t0 = Clock::now();
      grpc::ClientContext actx;
      Context(&actx, worker_token_);
      grpc::Status s = stub->AcquireJob(&actx, areq, &lease);
      const bool counted = measuring.load();
      if (counted) out.acquire.push_back(micros(t0));
      if (!s.ok()) {
        ++errors;
        absl::SleepFor(absl::Milliseconds(100));
        continue;
      }
      if (!lease.has_job()) continue;
      // A heartbeat with the lease, when one is due.
      auto heartbeat_if_due = [&] {
        if (Clock::now() < next_hb) return;
        next_hb = Clock::now() + hb_every;
        v1::HeartbeatRequest hreq;
        hreq.set_worker_id(id);
        hreq.set_free_devices(0);
        v1::LeaseRef* ref = hreq.add_leases();
        ref->set_job_id(lease.job_id());
        ref->set_attempt(lease.attempt());
        v1::HeartbeatResponse hresp;
        const auto h0 = Clock::now();
        grpc::ClientContext hctx;
        Context(&hctx, worker_token_);
        grpc::Status hs = stub->Heartbeat(&hctx, hreq, &hresp);
        if (measuring.load()) out.heartbeat.push_back(micros(h0));
        if (!hs.ok()) ++errors;
      };
      heartbeat_if_due();
      t0 = Clock::now();
      v1::ReportResultsResponse rresp;
      grpc::ClientContext rctx;
      Context(&rctx, worker_token_);
      auto writer = stub->ReportResults(&rctx, &rresp);
      int64_t seq = 0;
      auto event = [&] {
        v1::JobEvent e;
        e.set_job_id(lease.job_id());
        e.set_attempt(lease.attempt());
        e.set_lease_secret(lease.lease_secret());
        e.set_seq(++seq);
        return e;
      };
      v1::JobEvent started = event();
      started.set_started(true);
      bool ok = writer->Write(started);
      // The job's run time, heartbeating as a worker does; not part of the report's
      // latency.
      const absl::Duration job_time = absl::GetFlag(FLAGS_job_time);
      absl::Duration ran = absl::ZeroDuration();
      if (job_time > absl::ZeroDuration()) {
        const auto run_start = Clock::now();
        const auto run_end = run_start + absl::ToChronoMilliseconds(job_time);
        while (!stop.load() && Clock::now() < run_end) {
          std::this_thread::sleep_until(
              std::min({run_end, next_hb, Clock::now() + std::chrono::milliseconds(200)}));
          heartbeat_if_due();
        }
        ran = absl::FromChrono(Clock::now() - run_start);
      }
      for (const std::string& ds : lease.spec().eval_datasets()) {
        v1::JobEvent r = event();
        r.mutable_result()->set_dataset(ds);
        r.mutable_result()->set_correct(7);
        r.mutable_result()->set_total(10);
        ok = ok && writer->Write(r);
      }
      v1::JobEvent finished = event();
      finished.mutable_finished()->set_ok(true);
      finished.mutable_finished()->set_weights(absl::StrCat("bench/", lease.job_id()));
      ok = ok && writer->Write(finished);
      writer->WritesDone();
      grpc::Status rs = writer->Finish();
      if (measuring.load()) out.report.push_back(micros(t0) - absl::ToInt64Microseconds(ran));
      if (!ok || !rs.ok()) {
        if (errors.fetch_add(1) < 5) {
          std::fprintf(stderr, "ReportResults failed: %s\n", rs.error_message().c_str());
        }
        continue;
      }
      ++granted_;
      if (counted) ++grants;
    }
  }

  const std::string user_token_, worker_token_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::unique_ptr<v1::Coordinator::Stub> coordinator_;
  int sweeps_ = 0;  // only the main and refill threads submit, never at once
  int runs_ = 0;
  int64_t submitted_ = 0;  // written by Submit (main or refill thread, never both)
  std::atomic<int64_t> granted_{0};
  std::atomic<int64_t> refills_{0};
};

}  // namespace
}  // namespace rib::bench

int main(int argc, char** argv) {
  rib::ProgramHelp help;
  help.name = "rib-bench-coordinator";
  help.description =
      "Simulated workers against a running rib-coordinator: lease grants/s and the "
      "latencies of AcquireJob, Heartbeat and ReportResults at each worker count and "
      "queue depth, then SubmitSweep and GetMatrix on a large sweep. "
      "bench/coordinator/run.sh starts the coordinator and PostgreSQL.";
  help.examples = {
      "rib-bench-coordinator --address=127.0.0.1:7070 --user-token-file=u "
      "--worker-token-file=w"};
  rib::ParseFlagsOrExit(help, argc, argv);
  if (absl::GetFlag(FLAGS_address).empty()) {
    std::fprintf(stderr, "rib-bench-coordinator: --address is required\n");
    return 2;
  }
  const std::vector<int> workers = rib::bench::ParseList(absl::GetFlag(FLAGS_workers), "workers");
  const std::vector<int> queued = rib::bench::ParseList(absl::GetFlag(FLAGS_queued), "queued");
  rib::bench::Bench bench;
  // The timed big sweep is the first fill of the first queue depth that holds it (on
  // a queue at most that deep), or comes after every run.
  const int big_jobs = absl::GetFlag(FLAGS_big_sweep_jobs);
  std::string big;
  absl::Duration submit_time;
  std::printf("| workers |  queued | grants/s  | Acq p50  | Acq p99  | HB p99   | Rep p99  |"
              " refills | errors |\n");
  std::printf("|--------:|--------:|----------:|---------:|---------:|---------:|---------:|"
              "--------:|-------:|\n");
  std::fflush(stdout);
  for (int q : queued) {
    if (big.empty() && q >= big_jobs + bench.Queued()) {
      std::tie(big, submit_time) = bench.Submit(big_jobs);
    }
    for (int w : workers) bench.Run(w, q);
  }
  if (big.empty()) std::tie(big, submit_time) = bench.Submit(big_jobs);
  std::printf("(latencies in ms; grants/s: jobs acquired and reported finished per second;"
              " refills: sweeps submitted during the measured time to keep the queue)\n");
  std::printf("SubmitSweep of a %d-job sweep: %.2f s\n", big_jobs,
              absl::ToDoubleSeconds(submit_time));
  std::printf("GetMatrix on it: %.1f ms\n", absl::ToDoubleMilliseconds(bench.GetMatrix(big)));
  std::printf("jobs granted and finished in all: %lld\n",
              static_cast<long long>(bench.Granted()));
  return 0;
}
