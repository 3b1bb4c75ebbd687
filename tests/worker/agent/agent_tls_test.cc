// The agent's one channel over TLS (AgentOptions::tls, built by tls::MakeChannel as
// the CLI builds its own): it registers with a fake coordinator serving TLS with
// certificates made by openssl at test time, client certificate included, and a
// plaintext agent does not get through.
#include <memory>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/tls/credentials.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_certs.h"
#include "tests/testing/test_env.h"
#include "tests/worker/agent/fake_coordinator.h"
#include "worker/agent/agent.h"

namespace rib::agent {
namespace {

using ::rib::agent::testing::Eventually;
using ::rib::agent::testing::FakeCoordinator;
using ::rib::agent::testing::FakeExecutor;
using ::rib::testing::StatusIs;
using ::testing::HasSubstr;

class AgentTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = ::rib::testing::MakeTestCertificatesOrSkip(dir_.path());
  }
  void TearDown() override {
    if (agent_ != nullptr) agent_->Shutdown();
    if (thread_.joinable()) thread_.join();
  }

  std::unique_ptr<FakeCoordinator> TlsCoordinator(const std::string& client_ca) {
    tls::ServerTlsOptions options;
    options.cert_file = certs_.server_cert;
    options.key_file = certs_.server_key;
    options.client_ca_file = client_ca;
    auto credentials = tls::MakeServerCredentials(options);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return std::make_unique<FakeCoordinator>(100, *credentials);
  }

  AgentOptions Options(const FakeCoordinator& coordinator) const {
    AgentOptions options;
    options.coordinator = coordinator.address();
    options.name = "tls-worker";
    options.devices = *ParseDevices("cpu:1");
    options.acquire_wait = absl::Milliseconds(200);
    options.retry_backoff = absl::Milliseconds(50);
    options.drain_timeout = absl::Seconds(5);
    return options;
  }

  void Run(AgentOptions options) {
    auto agent = Agent::Create(std::move(options), &executor_);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    thread_ = std::thread([this] { agent_->Run().IgnoreError(); });
  }

  ::rib::testing::ScratchDir dir_;
  ::rib::testing::TestCertificates certs_;
  FakeExecutor executor_;
  std::unique_ptr<Agent> agent_;
  std::thread thread_;
};

TEST_F(AgentTlsTest, RegistersOverTlsWithAClientCertificate) {
  auto coordinator = TlsCoordinator(certs_.ca_cert);
  AgentOptions options = Options(*coordinator);
  options.tls.ca_file = certs_.ca_cert;
  options.tls.cert_file = certs_.client_cert;
  options.tls.key_file = certs_.client_key;
  ASSERT_NO_FATAL_FAILURE(Run(options));
  ASSERT_TRUE(Eventually([&] { return agent_->worker_id() == "w1"; }));
  ASSERT_EQ(coordinator->registrations().size(), 1u);
  EXPECT_EQ(coordinator->registrations()[0].name(), "tls-worker");
  // Heartbeats and long-polls use the same channel.
  EXPECT_TRUE(Eventually([&] { return !coordinator->heartbeats().empty(); }));
  EXPECT_TRUE(Eventually([&] { return !coordinator->acquires().empty(); }));
}

TEST_F(AgentTlsTest, RegistersWithOnlyTheCaWhenNoClientCertificateIsRequired) {
  auto coordinator = TlsCoordinator("");
  AgentOptions options = Options(*coordinator);
  options.tls.ca_file = certs_.ca_cert;
  ASSERT_NO_FATAL_FAILURE(Run(options));
  ASSERT_TRUE(Eventually([&] { return agent_->worker_id() == "w1"; }));
}

TEST_F(AgentTlsTest, PlaintextOrCertificateLessAgentsDoNotRegister) {
  auto coordinator = TlsCoordinator(certs_.ca_cert);
  // Plaintext.
  ASSERT_NO_FATAL_FAILURE(Run(Options(*coordinator)));
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(agent_->worker_id(), "");
  agent_->Shutdown();
  thread_.join();
  // TLS without the client certificate the coordinator requires.
  AgentOptions options = Options(*coordinator);
  options.tls.ca_file = certs_.ca_cert;
  ASSERT_NO_FATAL_FAILURE(Run(options));
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(agent_->worker_id(), "");
  EXPECT_TRUE(coordinator->registrations().empty());
}

TEST_F(AgentTlsTest, CreateFailsNamingAnUnreadableTlsFile) {
  FakeCoordinator coordinator;
  AgentOptions options = Options(coordinator);
  options.tls.ca_file = dir_.Join("missing-ca.pem");
  EXPECT_THAT(Agent::Create(options, &executor_).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing-ca.pem")));
  options.tls.ca_file = certs_.ca_cert;
  options.tls.cert_file = certs_.client_cert;  // without its key
  EXPECT_THAT(Agent::Create(options, &executor_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("private key")));
}

}  // namespace
}  // namespace rib::agent
