// rib-test-labels: postgres
// The dashboard's HTTP routes (--http-listen, server/http/dashboard.h) on a real
// coordinator over a real PostgreSQL: tokens and rules as the gRPC API's, the JSON equal
// to the gRPC answer, the page and its assets, and what is refused.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rib/v1/coordinator.grpc.pb.h"
#include "rib/v1/worker.grpc.pb.h"
#include "server/coordinator.h"
#include "tests/server/testing/fresh_coordinator.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/server/testing/sweep_fixtures.h"
#include "tests/server/testing/tokens.h"
#include "tests/server/testing/worker_calls.h"
#include "tests/testing/http_get.h"
#include "tests/testing/test_env.h"

namespace rib {
namespace {

using ::rib::testing::AuthContext;
using ::rib::testing::HttpBody;
using ::rib::testing::HttpGet;
using ::rib::testing::HttpSend;
using ::rib::testing::HttpStatus;
using ::testing::HasSubstr;
using ::testing::Not;

auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new ::rib::testing::PgEnvironment("dashboard"));

std::string Bearer(const std::string& token) {
  return "Authorization: Bearer " + token + "\r\n";
}

// The proto3 JSON `body` read back into `out`; false (with the error) when it is not one.
::testing::AssertionResult FromJson(const std::string& body,
                                    google::protobuf::Message* out) {
  const auto s = google::protobuf::util::JsonStringToMessage(body, out);
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s.ToString() << " in " << body;
}

class DashboardHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CoordinatorOptions options;
    options.http_listen = "127.0.0.1:0";
    coordinator_ = ::rib::testing::StartFreshCoordinator(root_.path(), options);
    ASSERT_NE(coordinator_, nullptr);
    port_ = coordinator_->http_port();
    ASSERT_GT(port_, 0);
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", coordinator_->port()),
                                       grpc::InsecureChannelCredentials());
    client_ = v1::Coordinator::NewStub(channel);
    worker_ = v1::WorkerApi::NewStub(channel);
    tokens_ = ::rib::testing::MakeTestTokens(::rib::testing::PgTestUri());
  }
  void TearDown() override {
    if (coordinator_) coordinator_->Shutdown(absl::ZeroDuration());
  }

  std::string SubmitSmallSweep() {
    AuthContext ctx(tokens_.alice);
    v1::SubmitSweepRequest req;
    req.set_sweep_yaml(::rib::testing::kSmallSweepYaml);
    req.set_source_name("small.yaml");
    v1::SubmitSweepResponse resp;
    grpc::Status s = client_->SubmitSweep(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.sweep_id();
  }

  // A worker "node1" runs the job it is handed first (pre or ft): fmnist-val 80/100,
  // fmnist-v2 70/100, fmnist-c 60/100, then success.
  void RunFirstJob() {
    AuthContext reg_ctx(tokens_.worker);
    v1::RegisterResponse registered;
    ASSERT_TRUE(worker_
                    ->Register(&reg_ctx, ::rib::testing::WorkerRegistration("node1", 1),
                               &registered)
                    .ok());
    AuthContext acquire_ctx(tokens_.worker);
    v1::AcquireJobRequest acquire;
    acquire.set_worker_id(registered.worker_id());
    acquire.set_free_devices(1);
    acquire.set_device_kind("cpu");
    acquire.set_wait_ms(2000);
    v1::AcquireJobResponse lease;
    ASSERT_TRUE(worker_->AcquireJob(&acquire_ctx, acquire, &lease).ok());
    ASSERT_TRUE(lease.has_job());
    AuthContext report_ctx(tokens_.worker);
    v1::ReportResultsResponse reported;
    auto writer = worker_->ReportResults(&report_ctx, &reported);
    v1::JobEvent started = ::rib::testing::LeaseEvent(lease);
    started.set_started(true);
    ASSERT_TRUE(writer->Write(started));
    for (auto [dataset, correct] :
         {std::pair{"fmnist-val", 80}, {"fmnist-v2", 70}, {"fmnist-c", 60}}) {
      ASSERT_TRUE(
          writer->Write(::rib::testing::ResultEvent(lease, dataset, "", correct)));
    }
    v1::JobEvent finished = ::rib::testing::LeaseEvent(lease);
    finished.mutable_finished()->set_ok(true);
    finished.mutable_finished()->set_weights("weights/" + lease.hash() + ".safetensors");
    ASSERT_TRUE(writer->Write(finished));
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
  }

  ::rib::testing::ScratchDir root_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<v1::Coordinator::Stub> client_;
  std::unique_ptr<v1::WorkerApi::Stub> worker_;
  ::rib::testing::TestTokens tokens_;
  int port_ = 0;
};

TEST_F(DashboardHttpTest, WithoutATokenEveryApiRouteIs401NamingTheHeader) {
  for (const char* path : {"/api/sweeps", "/api/workers", "/api/pool", "/api/whoami",
                           "/api/sweeps/x/matrix"}) {
    const std::string r = HttpGet(port_, path);
    EXPECT_EQ(HttpStatus(r), 401) << path << ": " << r;
    EXPECT_THAT(HttpBody(r), HasSubstr("\"code\":\"UNAUTHENTICATED\"")) << path;
    EXPECT_THAT(HttpBody(r), HasSubstr("Authorization: Bearer TOKEN")) << path;
  }
  const std::string junk = HttpGet(port_, "/api/sweeps", Bearer("rib_nothex"));
  EXPECT_EQ(HttpStatus(junk), 401);
  const std::string unknown =
      HttpGet(port_, "/api/sweeps", Bearer("rib_" + std::string(64, 'a')));
  EXPECT_EQ(HttpStatus(unknown), 401) << unknown;
}

TEST_F(DashboardHttpTest, AWorkerTokenIsRefusedWith403AsByTheGrpcRule) {
  const std::string r = HttpGet(port_, "/api/sweeps", Bearer(tokens_.worker));
  EXPECT_EQ(HttpStatus(r), 403) << r;
  EXPECT_THAT(HttpBody(r), HasSubstr("\"code\":\"PERMISSION_DENIED\""));
  EXPECT_THAT(HttpBody(r), HasSubstr("ListSweeps needs role user or admin"));
  EXPECT_EQ(HttpStatus(HttpGet(port_, "/api/workers", Bearer(tokens_.worker))), 403);
  // A user reads (the lab shares science); WhoAmI is any role's.
  EXPECT_EQ(HttpStatus(HttpGet(port_, "/api/sweeps", Bearer(tokens_.bob))), 200);
  const std::string me = HttpGet(port_, "/api/whoami", Bearer(tokens_.worker));
  EXPECT_EQ(HttpStatus(me), 200);
  EXPECT_THAT(HttpBody(me), HasSubstr("\"role\":\"ROLE_WORKER\""));
}

TEST_F(DashboardHttpTest, BadPathsMethodsAndRequestsAreRefused) {
  EXPECT_EQ(HttpStatus(HttpGet(port_, "/nope")), 404);
  EXPECT_EQ(HttpStatus(HttpGet(port_, "/assets/../index.html")), 404);
  EXPECT_EQ(HttpStatus(HttpGet(port_, "/assets/%2e%2e%2fCMakeLists.txt")), 404);
  EXPECT_EQ(HttpStatus(HttpGet(port_, "/assets/nope.js")), 404);
  const std::string api = HttpGet(port_, "/api/sweeps/a/b/c", Bearer(tokens_.alice));
  EXPECT_EQ(HttpStatus(api), 404);
  EXPECT_THAT(HttpBody(api), HasSubstr("NOT_FOUND"));
  const std::string missing =
      HttpGet(port_, "/api/sweeps/no-such-sweep", Bearer(tokens_.alice));
  EXPECT_EQ(HttpStatus(missing), 404) << missing;
  const std::string state =
      HttpGet(port_, "/api/sweeps/x/jobs?state=broken", Bearer(tokens_.alice));
  EXPECT_EQ(HttpStatus(state), 400);
  EXPECT_THAT(HttpBody(state), HasSubstr("'broken' is not a job state"));
  const std::string post =
      HttpSend(port_, "POST /api/sweeps HTTP/1.0\r\n" + Bearer(tokens_.root) + "\r\n");
  EXPECT_EQ(HttpStatus(post), 405);
  EXPECT_THAT(post, HasSubstr("Allow: GET, HEAD"));
  EXPECT_EQ(HttpStatus(HttpSend(port_, "nonsense\r\n\r\n")), 400);
  const std::string huge =
      HttpSend(port_, "GET / HTTP/1.0\r\nX-Pad: " + std::string(40000, 'x') + "\r\n\r\n");
  EXPECT_EQ(HttpStatus(huge), 431);
}

TEST_F(DashboardHttpTest, ThePageAndItsAssetsAreServedWithASecurityPolicy) {
  const std::string page = HttpGet(port_, "/");
  EXPECT_EQ(HttpStatus(page), 200);
  EXPECT_THAT(page, HasSubstr("Content-Type: text/html"));
  EXPECT_THAT(
      page, HasSubstr("Content-Security-Policy: default-src 'none'; script-src 'self'"));
  EXPECT_THAT(page, HasSubstr("X-Content-Type-Options: nosniff"));
  EXPECT_THAT(HttpBody(page), HasSubstr("<script src=\"/assets/app.js\""));
  EXPECT_THAT(HttpBody(page), Not(HasSubstr("http://")));  // nothing from elsewhere
  const std::string js = HttpGet(port_, "/assets/app.js");
  EXPECT_EQ(HttpStatus(js), 200);
  EXPECT_THAT(js, HasSubstr("Content-Type: text/javascript"));
  EXPECT_THAT(HttpBody(js), Not(HasSubstr("innerHTML")));
  EXPECT_EQ(HttpStatus(HttpGet(port_, "/assets/style.css")), 200);
  // The same server answers Prometheus scrapes.
  const std::string metrics = HttpGet(port_, "/metrics");
  EXPECT_EQ(HttpStatus(metrics), 200);
  EXPECT_THAT(metrics, HasSubstr("rib_jobs{state=\"QUEUED\"}"));
}

TEST_F(DashboardHttpTest, TheJsonIsTheGrpcAnswer) {
  const std::string sweep_id = SubmitSmallSweep();
  ASSERT_FALSE(sweep_id.empty());
  RunFirstJob();

  v1::GetMatrixRequest matrix_req;
  matrix_req.set_sweep_id(sweep_id);
  v1::GetMatrixResponse grpc_matrix;
  AuthContext ctx(tokens_.bob);
  ASSERT_TRUE(client_->GetMatrix(&ctx, matrix_req, &grpc_matrix).ok());
  ASSERT_EQ(grpc_matrix.matrices_size(), 1);
  // The fmnist-val cell of the row whose job ran.
  auto val_cell = [](const v1::Matrix& m) {
    return m.baseline().cells(0).present() ? m.baseline().cells(0) : m.rows(0).cells(0);
  };
  ASSERT_TRUE(val_cell(grpc_matrix.matrices(0)).present());  // a result came

  const std::string r =
      HttpGet(port_, "/api/sweeps/" + sweep_id + "/matrix", Bearer(tokens_.bob));
  ASSERT_EQ(HttpStatus(r), 200) << r;
  EXPECT_THAT(r, HasSubstr("Content-Type: application/json"));
  v1::GetMatrixResponse http_matrix;
  ASSERT_TRUE(FromJson(HttpBody(r), &http_matrix));
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(grpc_matrix, http_matrix))
      << "gRPC: " << grpc_matrix.DebugString() << "\nHTTP: " << http_matrix.DebugString();
  EXPECT_DOUBLE_EQ(val_cell(http_matrix.matrices(0)).accuracy(), 0.8);
  // The CSV download: `rib matrix -o csv` of the same answer, every column.
  const std::string csv = HttpGet(port_, "/api/sweeps/" + sweep_id + "/matrix?format=csv",
                                  Bearer(tokens_.bob));
  ASSERT_EQ(HttpStatus(csv), 200) << csv;
  EXPECT_THAT(csv, HasSubstr("Content-Type: text/csv"));
  EXPECT_EQ(HttpBody(csv), client::FormatCsv({grpc_matrix.matrices().begin(),
                                              grpc_matrix.matrices().end()}));
  EXPECT_THAT(HttpBody(csv), HasSubstr(",0.8,"));
  const std::string bad = HttpGet(port_, "/api/sweeps/" + sweep_id + "/matrix?format=xml",
                                  Bearer(tokens_.bob));
  EXPECT_EQ(HttpStatus(bad), 400) << bad;
  EXPECT_THAT(HttpBody(bad), HasSubstr("format 'xml' is not json or csv"));

  v1::GetSweepRequest sweep_req;
  sweep_req.set_sweep_id(sweep_id);
  v1::Sweep grpc_sweep;
  AuthContext ctx2(tokens_.bob);
  ASSERT_TRUE(client_->GetSweep(&ctx2, sweep_req, &grpc_sweep).ok());
  v1::Sweep http_sweep;
  ASSERT_TRUE(
      FromJson(HttpBody(HttpGet(port_, "/api/sweeps/" + sweep_id, Bearer(tokens_.bob))),
               &http_sweep));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(grpc_sweep, http_sweep));

  v1::ListWorkersResponse http_workers;
  ASSERT_TRUE(FromJson(HttpBody(HttpGet(port_, "/api/workers", Bearer(tokens_.bob))),
                       &http_workers));
  ASSERT_EQ(http_workers.workers_size(), 1);
  EXPECT_EQ(http_workers.workers(0).name(), "node1");

  // The pool page's numbers: the other job is queued for alice, one finished just now.
  const std::string pool = HttpBody(HttpGet(port_, "/api/pool", Bearer(tokens_.bob)));
  EXPECT_THAT(pool, HasSubstr("\"queued_by_owner\":{\"alice\":1}")) << pool;
  EXPECT_THAT(pool, HasSubstr("\"finished_per_hour\":[1,0,")) << pool;
}

TEST_F(DashboardHttpTest, ManyConnectionsAtOnceAreServed) {
  // A browser opens several; one slow client must not stall the others.
  const int slow = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(slow, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::vector<std::thread> clients;
  std::vector<int> codes(8, 0);
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      codes[i] = HttpStatus(HttpGet(port_, "/api/workers", Bearer(tokens_.alice)));
    });
  }
  for (auto& t : clients) t.join();
  close(slow);
  for (int code : codes) EXPECT_EQ(code, 200);
}

}  // namespace
}  // namespace rib
