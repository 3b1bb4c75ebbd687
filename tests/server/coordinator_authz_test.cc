// rib-test-labels: postgres
// Who may call what, tried on every RPC of rib.v1.Coordinator and rib.v1.WorkerApi
// through a real gRPC server on a real PostgreSQL: no token, a malformed, an unknown or
// a revoked token, another user's token, a worker token on the client API and a user
// token on the worker API are each answered with the right code, and the database is
// exactly as it was. Then forged reports (another worker's token, no secret, a forged
// checkpoint) are refused and the matrix is unchanged.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/text_format.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rib/v1/coordinator.grpc.pb.h"
#include "rib/v1/worker.grpc.pb.h"
#include "server/auth/policy.h"
#include "server/coordinator.h"
#include "tests/server/testing/fresh_coordinator.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/server/testing/sweep_fixtures.h"
#include "tests/server/testing/tokens.h"
#include "tests/testing/test_env.h"

namespace rib {
namespace {

using ::rib::testing::AuthContext;
using ::rib::testing::MakeToken;
using ::testing::HasSubstr;

auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new ::rib::testing::PgEnvironment("authz"));

const char* const kServices[] = {"rib.v1.Coordinator", "rib.v1.WorkerApi"};

std::vector<const google::protobuf::MethodDescriptor*> AllMethods() {
  std::vector<const google::protobuf::MethodDescriptor*> out;
  for (const char* name : kServices) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    EXPECT_NE(service, nullptr) << name;
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) out.push_back(service->method(i));
  }
  return out;
}

TEST(AccessTableTest, EveryRpcHasExactlyOneRule) {
  std::map<std::string, int> rules;
  for (const auth::Rule& r : auth::Rules()) ++rules[std::string(r.rpc)];
  for (const auto* m : AllMethods()) {
    EXPECT_EQ(rules[m->full_name()], 1) << m->full_name() << " has no access rule";
    rules.erase(m->full_name());
  }
  for (const auto& [rpc, n] : rules) ADD_FAILURE() << "rule for unknown RPC " << rpc;
  // And an RPC without a rule is refused, not allowed.
  domain::Principal root{"root", domain::Role::kAdmin, "t"};
  EXPECT_EQ(auth::Authorize(root, "rib.v1.Coordinator.NoSuchCall").code(),
            absl::StatusCode::kInternal);
}

// Who each RPC is for, as the README's table says.
enum class For { kAny, kReaders, kOwner, kAdmin, kWorker };
const std::map<std::string, For>& Expected() {
  static const auto* const kFor = new std::map<std::string, For>{
      {"SubmitSweep", For::kReaders},    {"PlanSweep", For::kReaders},
      {"GetSweep", For::kReaders},
      {"ListSweeps", For::kReaders},     {"CancelSweep", For::kOwner},
      {"RetrySweep", For::kOwner},       {"ListJobs", For::kReaders},
      {"GetJob", For::kReaders},         {"WatchSweep", For::kReaders},
      {"GetMatrix", For::kReaders},      {"ListWorkers", For::kReaders},
      {"DrainWorker", For::kAdmin},      {"UndrainWorker", For::kAdmin},
      {"SetSweepPriority", For::kOwner}, {"WhoAmI", For::kAny},
      {"CreateToken", For::kAdmin},      {"ListTokens", For::kAdmin},
      {"RevokeToken", For::kAdmin},      {"SetQuota", For::kAdmin},
      {"ListQuotas", For::kReaders},     {"Register", For::kWorker},
      {"Heartbeat", For::kWorker},       {"AcquireJob", For::kWorker},
      {"ReportResults", For::kWorker},   {"DescribeJob", For::kReaders},
      {"GetAttemptLog", For::kOwner},    {"AppendAttemptLog", For::kWorker},
  };
  return *kFor;
}

class AuthzTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CoordinatorOptions options;
    options.poll = absl::Milliseconds(100);
    coordinator_ = ::rib::testing::StartFreshCoordinator(root_.path(), options);
    ASSERT_NE(coordinator_, nullptr);
    ::rib::testing::CoordinatorStubs stubs = ::rib::testing::ConnectTo(*coordinator_);
    channel_ = stubs.channel;
    client_ = std::move(stubs.client);
    worker_api_ = std::move(stubs.worker_api);
    const std::string uri = ::rib::testing::PgTestUri();
    tokens_ = ::rib::testing::MakeTestTokens(uri);
    mallory_worker_ = MakeToken(uri, "mallory-worker", domain::Role::kWorker);
    revoked_ = MakeToken(uri, "carol");
    {
      AuthContext ctx(tokens_.root);
      v1::ListTokensRequest req;
      v1::ListTokensResponse resp;
      ASSERT_TRUE(client_->ListTokens(&ctx, req, &resp).ok());
      for (const auto& t : resp.tokens()) {
        if (t.user() == "carol") revoked_id_ = t.id();
      }
      AuthContext rctx(tokens_.root);
      v1::RevokeTokenRequest rreq;
      rreq.set_token_id(revoked_id_);
      v1::TokenInfo info;
      ASSERT_TRUE(client_->RevokeToken(&rctx, rreq, &info).ok());
      ASSERT_TRUE(info.revoked());
    }
    // alice's sweep, a worker of the worker token, and a leased job.
    AuthContext sctx(tokens_.alice);
    v1::SubmitSweepRequest sreq;
    sreq.set_sweep_yaml(::rib::testing::kSmallSweepYaml);
    v1::SubmitSweepResponse sresp;
    grpc::Status s = client_->SubmitSweep(&sctx, sreq, &sresp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    sweep_id_ = sresp.sweep_id();
    AuthContext wctx(tokens_.worker);
    v1::RegisterRequest wreq;
    wreq.set_name("node1");
    wreq.add_devices()->set_kind("cpu");
    wreq.mutable_devices(0)->set_count(2);
    for (const char* d : {"fmnist-val", "fmnist-v2", "fmnist-c"}) wreq.add_datasets(d);
    v1::RegisterResponse wresp;
    ASSERT_TRUE(worker_api_->Register(&wctx, wreq, &wresp).ok());
    worker_id_ = wresp.worker_id();
    AuthContext actx(tokens_.worker);
    v1::AcquireJobRequest areq;
    areq.set_worker_id(worker_id_);
    areq.set_free_devices(1);
    ASSERT_TRUE(worker_api_->AcquireJob(&actx, areq, &lease_).ok());
    ASSERT_TRUE(lease_.has_job());
    // The fresh coordinator's first lease-expiry pass (1 s after start) extends every
    // live lease (the grace rule), which changes the leased job's row: wait for it, so
    // that the tests' before/after digests of the database see only what they call.
    const absl::Time until = absl::Now() + absl::Seconds(30);
    while (::rib::testing::QueryOne(uri, "SELECT count(*) FROM lease_expiry") != "1") {
      ASSERT_LT(absl::Now(), until) << "no lease-expiry pass ran within 30 s";
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
  void TearDown() override {
    if (coordinator_) coordinator_->Shutdown(absl::ZeroDuration());
  }

  // A request for `method` that would do something real (on alice's sweep, the
  // worker, the leased job), as text format.
  std::string RequestText(const std::string& method) const {
    const std::map<std::string, std::string> text = {
        {"SubmitSweep", "sweep_yaml: 'name: other\\nsuite: fmnist-rib\\n'"},
        {"PlanSweep", "sweep_yaml: 'name: other\\nsuite: fmnist-rib\\n'"},
        {"GetSweep", "sweep_id: '$S'"},
        {"CancelSweep", "sweep_id: '$S'"},
        {"RetrySweep", "sweep_id: '$S'"},
        {"SetSweepPriority", "sweep_id: '$S' priority: 5"},
        {"ListJobs", "sweep_id: '$S'"},
        {"GetJob", "job_id: '$J'"},
        {"DescribeJob", "job_id: '$J'"},
        {"GetAttemptLog", "job_id: '$J'"},
        {"AppendAttemptLog",
         "job_id: '$J' attempt: 1 lease_secret: '$K' data: 'forged log line'"},
        {"WatchSweep", "sweep_id: '$S'"},
        {"GetMatrix", "sweep_id: '$S'"},
        {"DrainWorker", "worker_id: '$W'"},
        {"UndrainWorker", "worker_id: '$W'"},
        {"CreateToken", "user: 'eve' role: ROLE_ADMIN"},
        {"RevokeToken", "token_id: '$T'"},
        {"SetQuota", "user: 'alice' devices: 0"},
        {"Register", "name: 'intruder' devices { kind: 'cpu' count: 64 }"},
        {"Heartbeat", "worker_id: '$W' leases { job_id: '$J' attempt: 1 }"},
        {"AcquireJob", "worker_id: '$W' free_devices: 8"},
        {"ReportResults",
         "job_id: '$J' attempt: 1 lease_secret: '$K' result { dataset: 'fmnist-val' "
         "correct: 100 total: 100 }"},
    };
    auto it = text.find(method);
    if (it == text.end()) return "";
    return absl::StrReplaceAll(it->second, {{"$S", sweep_id_},
                                            {"$J", lease_.job_id()},
                                            {"$W", worker_id_},
                                            {"$K", lease_.lease_secret()},
                                            {"$T", revoked_id_}});
  }

  // Calls `method` with `token` ("" = none; "raw:" + value = that authorization
  // header as is) through the generic stub: one request message, then the status.
  grpc::Status Call(const google::protobuf::MethodDescriptor* method,
                    const std::string& token) {
    std::unique_ptr<google::protobuf::Message> req(
        google::protobuf::MessageFactory::generated_factory()
            ->GetPrototype(method->input_type())
            ->New());
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(RequestText(method->name()),
                                                              req.get()))
        << method->name();
    grpc::ClientContext ctx;
    if (token.rfind("raw:", 0) == 0) {
      ctx.AddMetadata("authorization", token.substr(4));
    } else if (!token.empty()) {
      ctx.AddMetadata("authorization", "Bearer " + token);
    }
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    grpc::GenericStub stub(channel_);
    grpc::CompletionQueue cq;
    const std::string path =
        absl::StrCat("/", method->service()->full_name(), "/", method->name());
    std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
        stub.PrepareCall(&ctx, path, &cq);
    void* tag = nullptr;
    bool ok = false;
    auto step = [&](intptr_t want) {
      EXPECT_TRUE(cq.Next(&tag, &ok));
      EXPECT_EQ(reinterpret_cast<intptr_t>(tag), want);
      return ok;
    };
    call->StartCall(reinterpret_cast<void*>(1));
    if (step(1)) {
      grpc::Slice slice(req->SerializeAsString());
      grpc::ByteBuffer buffer(&slice, 1);
      call->Write(buffer, reinterpret_cast<void*>(2));
      if (step(2)) {
        call->WritesDone(reinterpret_cast<void*>(3));
        step(3);
      }
      grpc::ByteBuffer reply;
      call->Read(&reply, reinterpret_cast<void*>(4));
      step(4);
    }
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(5));
    step(5);
    return status;
  }

  // A digest of every table the calls could change.
  std::string DatabaseDigest() const {
    std::string all;
    for (const char* table :
         {"sweeps", "jobs", "results", "events", "tokens", "quotas", "workers",
          "attempts", "attempt_logs"}) {
      absl::StrAppend(&all, ::rib::testing::QueryOne(
                                ::rib::testing::PgTestUri(),
                                absl::StrCat("SELECT md5(COALESCE(string_agg(t::text, ','"
                                             " ORDER BY t::text), '')) FROM ",
                                             table, " t")),
                      ";");
    }
    return all;
  }

  ::rib::testing::ScratchDir root_;
  std::unique_ptr<Coordinator> coordinator_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Coordinator::Stub> client_;
  std::unique_ptr<v1::WorkerApi::Stub> worker_api_;
  ::rib::testing::TestTokens tokens_;
  std::string mallory_worker_, revoked_, revoked_id_;
  std::string sweep_id_, worker_id_;
  v1::AcquireJobResponse lease_;
};

TEST_F(AuthzTest, EveryRpcRefusesWhoMayNotCallItAndChangesNothing) {
  const std::string before = DatabaseDigest();
  const std::string bad_format = "raw:Bearer not-a-rib-token";
  const std::string unknown =
      "rib_0000000000000000000000000000000000000000000000000000000000000000";
  int tried = 0;
  for (const auto* m : AllMethods()) {
    const std::string name = m->name();
    ASSERT_TRUE(Expected().count(name)) << name << " is missing from this test";
    const For who = Expected().at(name);
    SCOPED_TRACE(name);
    for (const std::string& token :
         {std::string(), std::string("raw:Basic YWxpY2U6cGFzcw=="), bad_format, unknown,
          revoked_}) {
      grpc::Status s = Call(m, token);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << "token '" << token << "': " << s.error_message();
      ++tried;
    }
    if (who != For::kWorker && who != For::kAny) {
      grpc::Status s = Call(m, tokens_.worker);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
      EXPECT_THAT(s.error_message(), HasSubstr("needs"));
      ++tried;
    }
    if (who == For::kWorker) {
      for (const std::string& token : {tokens_.alice, tokens_.root}) {
        grpc::Status s = Call(m, token);
        EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << s.error_message();
        EXPECT_THAT(s.error_message(), HasSubstr("needs role worker"));
        ++tried;
      }
    }
    if (who == For::kAdmin) {
      grpc::Status s = Call(m, tokens_.alice);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
      EXPECT_THAT(s.error_message(), HasSubstr("needs role admin"));
      ++tried;
    }
    if (who == For::kOwner) {  // bob on alice's sweep
      grpc::Status s = Call(m, tokens_.bob);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
      EXPECT_THAT(s.error_message(), HasSubstr("the sweep's owner (alice)"));
      ++tried;
    }
  }
  // Another worker's token acting for this worker or its lease.
  for (const char* name :
       {"Heartbeat", "AcquireJob", "ReportResults", "AppendAttemptLog"}) {
    const auto* m = google::protobuf::DescriptorPool::generated_pool()
                        ->FindServiceByName("rib.v1.WorkerApi")
                        ->FindMethodByName(name);
    grpc::Status s = Call(m, mallory_worker_);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << name << ": " << s.error_message();
    ++tried;
  }
  EXPECT_EQ(DatabaseDigest(), before) << "a refused call changed the database";
  EXPECT_GT(tried, 100);
}

TEST_F(AuthzTest, WhoMayCallIsLetThrough) {
  // Not refused (the call may still fail on its arguments, or wait: WatchSweep).
  auto allowed = [&](const std::string& name, const std::string& token) {
    const google::protobuf::MethodDescriptor* m = nullptr;
    for (const auto* d : AllMethods()) {
      if (d->name() == name) m = d;
    }
    grpc::Status s = Call(m, token);
    EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << name;
    EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << name << ": " << s.error_message();
  };
  for (const auto* m : AllMethods()) {
    switch (Expected().at(m->name())) {
      case For::kAny:
        allowed(m->name(), tokens_.worker);
        allowed(m->name(), tokens_.alice);
        break;
      case For::kReaders:
        allowed(m->name(), tokens_.bob);
        allowed(m->name(), tokens_.root);
        break;
      case For::kOwner:
        allowed(m->name(), tokens_.alice);
        allowed(m->name(), tokens_.root);
        break;
      case For::kAdmin:
        if (m->name() != "RevokeToken") allowed(m->name(), tokens_.root);
        break;
      case For::kWorker:
        allowed(m->name(), tokens_.worker);
        break;
    }
  }
}

TEST_F(AuthzTest, ACancelRecordsWhoAndAUserIsCappedAnAdminIsNot) {
  AuthContext ctx(tokens_.root);
  v1::CancelSweepRequest req;
  req.set_sweep_id(sweep_id_);
  v1::Sweep out;
  ASSERT_TRUE(client_->CancelSweep(&ctx, req, &out).ok());
  EXPECT_EQ(out.owner(), "alice");
  EXPECT_EQ(out.cancelled_by(), "root");

  auto set_priority = [&](const std::string& token, int priority) {
    AuthContext pctx(token);
    v1::SetSweepPriorityRequest preq;
    preq.set_sweep_id(sweep_id_);
    preq.set_priority(priority);
    v1::Sweep sweep;
    return client_->SetSweepPriority(&pctx, preq, &sweep);
  };
  grpc::Status s = set_priority(tokens_.alice, 11);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("limit of 10"));
  EXPECT_TRUE(set_priority(tokens_.alice, 10).ok());
  EXPECT_TRUE(set_priority(tokens_.root, 500).ok());
  EXPECT_EQ(set_priority(tokens_.root, 2000000).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // The owner is the token's user, whatever x-rib-user says.
  AuthContext sctx(tokens_.bob);
  sctx.AddMetadata("x-rib-user", "alice");
  v1::SubmitSweepRequest sreq;
  sreq.set_sweep_yaml(::rib::testing::kSmallSweepYaml);
  sreq.set_force(true);
  v1::SubmitSweepResponse sresp;
  ASSERT_TRUE(client_->SubmitSweep(&sctx, sreq, &sresp).ok());
  AuthContext gctx(tokens_.bob);
  v1::GetSweepRequest greq;
  greq.set_sweep_id(sresp.sweep_id());
  v1::Sweep bobs;
  ASSERT_TRUE(client_->GetSweep(&gctx, greq, &bobs).ok());
  EXPECT_EQ(bobs.owner(), "bob");
}

TEST_F(AuthzTest, ForgedReportsAreRefusedAndTheMatrixIsUnchanged) {
  auto matrix = [&] {
    AuthContext ctx(tokens_.alice);
    v1::GetMatrixRequest req;
    req.set_sweep_id(sweep_id_);
    v1::GetMatrixResponse resp;
    EXPECT_TRUE(client_->GetMatrix(&ctx, req, &resp).ok());
    return resp.SerializeAsString();
  };
  auto report = [&](const std::string& token, v1::JobEvent e) {
    AuthContext ctx(token);
    v1::ReportResultsResponse resp;
    auto writer = worker_api_->ReportResults(&ctx, &resp);
    writer->Write(e);
    writer->WritesDone();
    return writer->Finish();
  };
  const std::string before = matrix();
  const std::string digest = DatabaseDigest();
  v1::JobEvent e;
  e.set_job_id(lease_.job_id());
  e.set_attempt(lease_.attempt());
  e.mutable_result()->set_dataset("fmnist-val");
  e.mutable_result()->set_correct(100);
  e.mutable_result()->set_total(100);
  // Another worker, the current attempt, even with the secret.
  e.set_lease_secret(lease_.lease_secret());
  grpc::Status s = report(mallory_worker_, e);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  // The right worker without the secret.
  e.clear_lease_secret();
  s = report(tokens_.worker, e);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("lease secret"));
  // A forged checkpoint, and a forged finish.
  v1::JobEvent ckpt = e;
  ckpt.set_checkpoint("checkpoints/forged.ckpt");
  EXPECT_EQ(report(tokens_.worker, ckpt).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::JobEvent done = e;
  done.mutable_finished()->set_ok(true);
  EXPECT_EQ(report(mallory_worker_, done).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(DatabaseDigest(), digest);
  EXPECT_EQ(matrix(), before);
  // The lease holder with its secret is accepted.
  e.set_lease_secret(lease_.lease_secret());
  s = report(tokens_.worker, e);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_NE(matrix(), before);
}

}  // namespace
}  // namespace rib
