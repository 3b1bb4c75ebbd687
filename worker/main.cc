// rib-worker: one per node. Registers its devices with rib-coordinator, leases jobs that
// fit, and runs each as N rank processes (rib-rank, worker/rank). Torch-free: the
// agent supervises, the ranks compute.
//
//   rib-worker --coordinator HOST:PORT --devices cpu:2 --data-root D --artifact-root A
//
// SIGTERM/SIGINT drain the worker (no new leases; running jobs are stopped and released
// for a retry elsewhere); a second signal kills the running jobs at once.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/metrics_http.h"
#include "common/program.h"
#include "spec/data_layout.h"
#include "worker/agent/agent.h"
#include "worker/agent/agent_metrics.h"
#include "worker/agent/call_auth.h"
#include "worker/agent/devices.h"
#include "worker/agent/rank_executor.h"
#include "worker/data/eval_cache_stats.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7070", "rib-coordinator address HOST:PORT");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the CA that signed the coordinator's certificate: connect over "
          "TLS; empty = plaintext");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM file of this worker's client certificate (with --tls-key), for a "
          "coordinator started with --tls-client-ca");
ABSL_FLAG(std::string, tls_key, "", "PEM file of the private key of --tls-cert");
ABSL_FLAG(std::string, tls_server_name, "",
          "name to check the coordinator's certificate against instead of the host in "
          "--coordinator (a certificate issued for another name of that host)");
ABSL_FLAG(std::string, token_file, "",
          "file with this worker's token (role worker) on its first line; default: the "
          "RIB_TOKEN environment variable");
ABSL_FLAG(std::string, devices, "cpu:1",
          "devices offered: cuda:0,1,... (those GPUs) or cpu:N (N CPU slots)");
ABSL_FLAG(int, threads_per_slot, 0,
          "intra-op threads of each rank; 0 = cores / slots (at least 1)");
ABSL_FLAG(std::string, data_root, "", "folder with the datasets (required)");
ABSL_FLAG(std::string, artifact_root, "",
          "folder for weights, checkpoints and run logs, shared with the coordinator "
          "(required)");
ABSL_FLAG(std::string, labels, "", "comma-separated labels advertised to the coordinator");
ABSL_FLAG(std::string, name, "", "worker name (default: the host name)");
ABSL_FLAG(absl::Duration, acquire_wait, absl::Seconds(10), "AcquireJob long-poll length");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(120),
          "after SIGTERM, how long running jobs may take to stop before they are killed");
ABSL_FLAG(absl::Duration, rank_hang_timeout, absl::Minutes(30),
          "a rank showing no progress this long is killed and the attempt fails");
ABSL_FLAG(absl::Duration, kill_grace, absl::Seconds(5),
          "time between SIGTERM and SIGKILL when a failed rank takes the others down");
ABSL_FLAG(std::string, run_dir, "",
          "folder for job files and rank logs (default <artifact-root>/runs)");
ABSL_FLAG(std::string, metrics_listen, "",
          "serve Prometheus metrics (slots, registrations, job exits) at "
          "http://ADDRESS/metrics, e.g. 0.0.0.0:9091 (port 0 picks one); empty = off");
// Local disk of this node (the cache is per node; /var/tmp survives a restart).
std::string DefaultCacheRoot() {
  return absl::StrCat("/var/tmp/rib-eval-cache-", getuid());
}
ABSL_FLAG(std::string, cache_root, DefaultCacheRoot(),
          "folder of this node's evaluation cache: each evaluation dataset's decoded and "
          "resized pixels, kept so later evaluations skip decoding; empty = no cache");
ABSL_FLAG(double, cache_max_gb, 20.0,
          "size bound of --cache-root in GiB (least recently used entries go first)");
ABSL_FLAG(std::string, rank_binary, "",
          "the rib-rank binary that runs each rank (default: rib-rank beside rib-worker)");

namespace {

const rib::ProgramHelp kHelp = {
    "rib-worker",
    "--coordinator HOST:PORT [--token-file FILE] [--tls-ca PEM [--tls-cert PEM "
    "--tls-key PEM]] --devices cpu:N|cuda:0,1 --data-root DIR --artifact-root DIR "
    "[flags]",
    "One per node. Registers this node's devices, the datasets found under --data-root\n"
    "and its labels with rib-coordinator, leases the jobs that fit, and runs each job "
    "as\n"
    "N data-parallel rank processes (rib-rank; Gloo on CPU, NCCL on CUDA builds) whose\n"
    "events it streams back, every accuracy as it is computed. SIGTERM or SIGINT drains\n"
    "it (no new leases; running jobs checkpoint at the next step, stop and are\n"
    "released for a resume elsewhere); a second signal kills the running jobs at once.\n"
    "Every call carries the worker's token (--token-file, else $RIB_TOKEN), one of role\n"
    "worker from `rib token create --role worker`.",
    {"rib-worker --coordinator=coord.lab:7070 --tls-ca=lab-ca.pem "
     "--token-file=/etc/rib/worker.token --devices=cuda:0,1,2,3 --data-root=/datasets "
     "--artifact-root=/shared/rib"}};

std::atomic<int> g_signals{0};
void OnSignal(int) { g_signals.fetch_add(1); }

// rib-rank beside this binary (they are built and installed together).
std::string DefaultRankBinary(const char* argv0) {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) self = std::filesystem::absolute(argv0);
  return (self.parent_path() / "rib-rank").string();
}

int RunAgent(const char* argv0) {
  using rib::agent::Agent;
  absl::StatusOr<rib::agent::DeviceSet> devices =
      rib::agent::ParseDevices(absl::GetFlag(FLAGS_devices));
  if (!devices.ok()) {
    std::fprintf(stderr, "rib-worker: %s\n", devices.status().ToString().c_str());
    return 2;
  }
  const std::string data_root = absl::GetFlag(FLAGS_data_root);
  const std::string artifact_root = absl::GetFlag(FLAGS_artifact_root);
  if (data_root.empty() || artifact_root.empty()) {
    std::fprintf(stderr, "rib-worker: --data-root and --artifact-root are required\n");
    return 2;
  }
  int threads = absl::GetFlag(FLAGS_threads_per_slot);
  if (threads <= 0) {
    const int cores = std::max(1u, std::thread::hardware_concurrency());
    threads = std::max(1, cores / devices->count());
  }

  rib::agent::RankExecutorOptions exec_options;
  exec_options.binary = absl::GetFlag(FLAGS_rank_binary);
  if (exec_options.binary.empty()) exec_options.binary = DefaultRankBinary(argv0);
  if (access(exec_options.binary.c_str(), X_OK) != 0) {
    std::fprintf(stderr,
                 "rib-worker: the rank binary %s is not executable (see --rank-binary)\n",
                 exec_options.binary.c_str());
    return 2;
  }
  exec_options.data_root = data_root;
  exec_options.artifact_root = artifact_root;
  exec_options.run_dir = absl::GetFlag(FLAGS_run_dir);
  exec_options.threads_per_slot = threads;
  exec_options.log_level = absl::GetFlag(FLAGS_log_level);
  exec_options.log_format = absl::GetFlag(FLAGS_log_format);
  exec_options.hang_timeout = absl::GetFlag(FLAGS_rank_hang_timeout);
  exec_options.kill_grace = absl::GetFlag(FLAGS_kill_grace);
  exec_options.eval_cache_root = absl::GetFlag(FLAGS_cache_root);
  if (!rib::data::EvalCacheBytesFromGib(absl::GetFlag(FLAGS_cache_max_gb),
                                         &exec_options.eval_cache_max_bytes)) {
    std::fprintf(stderr, "rib-worker: --cache-max-gb must be a positive size in GiB, got %g\n",
                 absl::GetFlag(FLAGS_cache_max_gb));
    return 2;
  }
  auto executor = rib::agent::RankExecutor::Create(exec_options);
  if (!executor.ok()) {
    std::fprintf(stderr, "rib-worker: %s\n", executor.status().ToString().c_str());
    return 2;
  }

  rib::agent::AgentOptions options;
  options.coordinator = absl::GetFlag(FLAGS_coordinator);
  // The token never reaches a log line: only where it came from does.
  if (const std::string file = absl::GetFlag(FLAGS_token_file); !file.empty()) {
    absl::StatusOr<std::string> token = rib::agent::ReadTokenFile(file);
    if (!token.ok()) {
      std::fprintf(stderr, "rib-worker: --token-file: %s\n",
                   std::string(token.status().message()).c_str());
      return 2;
    }
    options.token = *std::move(token);
    RIB_LOG(INFO) << "worker token from " << file;
  } else if (const char* env = std::getenv("RIB_TOKEN"); env != nullptr && *env != '\0') {
    options.token = std::string(absl::StripAsciiWhitespace(env));
    RIB_LOG(INFO) << "worker token from RIB_TOKEN";
  } else {
    RIB_LOG(WARNING) << "no worker token (--token-file or RIB_TOKEN): a coordinator "
                        "that checks tokens will refuse this worker";
  }
  options.tls.ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.server_name = absl::GetFlag(FLAGS_tls_server_name);
  options.name = absl::GetFlag(FLAGS_name);
  options.devices = *devices;
  options.datasets = rib::spec::ListAvailableDatasets(data_root);
  for (absl::string_view label :
       absl::StrSplit(absl::GetFlag(FLAGS_labels), ',', absl::SkipWhitespace())) {
    options.labels.emplace_back(label);
  }
  options.acquire_wait = absl::GetFlag(FLAGS_acquire_wait);
  options.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  auto agent = Agent::Create(options, executor->get());
  if (!agent.ok()) {
    std::fprintf(stderr, "rib-worker: %s\n", agent.status().ToString().c_str());
    return 2;
  }
  std::unique_ptr<rib::MetricsHttpServer> metrics_server;
  if (const std::string listen = absl::GetFlag(FLAGS_metrics_listen); !listen.empty()) {
    auto started = rib::MetricsHttpServer::Start(
        listen, {std::make_shared<rib::agent::AgentMetrics>(agent->get(),
                                                     exec_options.eval_cache_root)});
    if (!started.ok()) {
      std::fprintf(stderr, "rib-worker: %s\n", started.status().ToString().c_str());
      return 2;
    }
    metrics_server = *std::move(started);
    RIB_LOG(INFO) << "metrics on " << listen.substr(0, listen.rfind(':')) << ":"
                  << metrics_server->port();
  }
  RIB_LOG(INFO) << "rib-worker: " << devices->count() << " " << devices->kind
                << " slot(s), " << threads << " thread(s) per slot, "
                << options.datasets.size() << " dataset(s) under " << data_root;

  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::atomic<bool> done{false};
  // Signal handlers may only set a flag; this thread turns it into Drain()/Shutdown().
  std::thread watcher([&] {
    int handled = 0;
    while (!done.load()) {
      const int n = g_signals.load();
      if (n > handled) {
        if (handled == 0) {
          RIB_LOG(INFO) << "signal received: draining";
          (*agent)->Drain();
        } else {
          RIB_LOG(WARNING) << "second signal: killing running jobs";
          (*agent)->Shutdown();
        }
        handled = n;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  });
  absl::Status s = (*agent)->Run();
  done.store(true);
  watcher.join();
  metrics_server.reset();  // no scrape may read the agent after this
  if (!s.ok()) {
    RIB_LOG(ERROR) << "rib-worker: " << s;
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  rib::ParseFlagsOrExit(kHelp, argc, argv);
  rib::SetLogTag("worker");
  return RunAgent(argv[0]);
}
