// rib-test-forge: a hostile worker-API client for tests/e2e/security_test.sh. It speaks
// the worker API from outside, as a forger would, and prints one line per attempt with
// the code the coordinator answered:
//
//   rib-test-forge lease  --coordinator A --token-file F
//       registers "forge-holder" and long-polls one job; prints
//       "lease JOB_ID ATTEMPT SECRET WORKER_ID" (the legitimate holder's view)
//   rib-test-forge report --coordinator A --token-file F --job J --attempt N
//       [--secret S] [--kind result|checkpoint|finished]
//       sends one JobEvent; prints "report CODE MESSAGE"
//   rib-test-forge heartbeat|acquire --coordinator A --token-file F --worker W
//       prints "heartbeat CODE MESSAGE" (acting for someone else's worker id)
//   rib-test-forge release ... --job J --attempt N --secret S
//       gives the lease back (finished, released)
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "rib/v1/worker.grpc.pb.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7070", "coordinator address");
ABSL_FLAG(std::string, token_file, "", "bearer token file ('' = send none)");
ABSL_FLAG(std::string, job, "", "job id");
ABSL_FLAG(int, attempt, 0, "attempt");
ABSL_FLAG(std::string, secret, "", "lease secret to send");
ABSL_FLAG(std::string, kind, "result", "result, checkpoint, finished");
ABSL_FLAG(std::string, worker, "", "worker id to act for");

namespace {

std::string Token() {
  const std::string path = absl::GetFlag(FLAGS_token_file);
  if (path.empty()) return "";
  std::ifstream f(path);
  std::string t;
  std::getline(f, t);
  return std::string(absl::StripAsciiWhitespace(t));
}

void Prepare(grpc::ClientContext* ctx) {
  const std::string token = Token();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

void Print(const char* what, const grpc::Status& s) {
  std::cout << what << " " << s.error_code() << " " << s.error_message() << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) {
    std::cerr << "usage: rib-test-forge lease|report|heartbeat|acquire|release [flags]\n";
    return 2;
  }
  const std::string cmd = args[1];
  auto channel = grpc::CreateChannel(absl::GetFlag(FLAGS_coordinator),
                                     grpc::InsecureChannelCredentials());
  auto stub = rib::v1::WorkerApi::NewStub(channel);
  if (cmd == "lease") {
    grpc::ClientContext rctx;
    Prepare(&rctx);
    rib::v1::RegisterRequest reg;
    reg.set_name("forge-holder");
    rib::v1::Device* d = reg.add_devices();
    d->set_kind("cpu");
    d->set_count(1);
    for (const char* ds : {"fmnist-train", "fmnist-val", "fmnist-v2", "fmnist-a",
                           "fmnist-r", "fmnist-sketch", "fmnist-objectnet",
                           "fmnist-cartoon", "fmnist-drawing", "fmnist-c"}) {
      reg.add_datasets(ds);
    }
    rib::v1::RegisterResponse registered;
    grpc::Status s = stub->Register(&rctx, reg, &registered);
    if (!s.ok()) {
      Print("register", s);
      return 1;
    }
    grpc::ClientContext actx;
    Prepare(&actx);
    rib::v1::AcquireJobRequest req;
    req.set_worker_id(registered.worker_id());
    req.set_free_devices(1);
    req.set_wait_ms(20000);
    rib::v1::AcquireJobResponse lease;
    s = stub->AcquireJob(&actx, req, &lease);
    if (!s.ok() || !lease.has_job()) {
      Print("acquire", s);
      return 1;
    }
    std::cout << "lease " << lease.job_id() << " " << lease.attempt() << " "
              << lease.lease_secret() << " " << registered.worker_id() << std::endl;
    return 0;
  }
  if (cmd == "report" || cmd == "release") {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    rib::v1::ReportResultsResponse resp;
    auto writer = stub->ReportResults(&ctx, &resp);
    rib::v1::JobEvent e;
    e.set_job_id(absl::GetFlag(FLAGS_job));
    e.set_attempt(absl::GetFlag(FLAGS_attempt));
    e.set_lease_secret(absl::GetFlag(FLAGS_secret));
    const std::string kind = cmd == "release" ? "release" : absl::GetFlag(FLAGS_kind);
    if (kind == "checkpoint") {
      e.set_checkpoint("checkpoints/forged/step-1.ckpt");
    } else if (kind == "finished") {
      e.mutable_finished()->set_ok(true);
      e.mutable_finished()->set_weights("weights/forged.safetensors");
    } else if (kind == "release") {
      e.mutable_finished()->set_ok(false);
      e.mutable_finished()->set_released(true);
      e.mutable_finished()->set_code(14);
      e.mutable_finished()->set_error("released by rib-test-forge");
    } else {
      rib::v1::Accuracy* a = e.mutable_result();
      a->set_dataset("fmnist-val");
      a->set_correct(10000);
      a->set_total(10000);
    }
    writer->Write(e);
    writer->WritesDone();
    Print(cmd.c_str(), writer->Finish());
    return 0;
  }
  if (cmd == "heartbeat" || cmd == "acquire") {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    grpc::Status s;
    if (cmd == "heartbeat") {
      rib::v1::HeartbeatRequest req;
      req.set_worker_id(absl::GetFlag(FLAGS_worker));
      rib::v1::HeartbeatResponse resp;
      s = stub->Heartbeat(&ctx, req, &resp);
    } else {
      rib::v1::AcquireJobRequest req;
      req.set_worker_id(absl::GetFlag(FLAGS_worker));
      req.set_free_devices(8);
      rib::v1::AcquireJobResponse resp;
      s = stub->AcquireJob(&ctx, req, &resp);
    }
    Print(cmd.c_str(), s);
    return 0;
  }
  std::cerr << "rib-test-forge: unknown command " << cmd << "\n";
  return 2;
}
