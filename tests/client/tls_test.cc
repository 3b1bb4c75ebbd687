// The rib CLI over TLS: --tls-ca (also RIB_TLS_CA and the config file's `tls_ca:`)
// against a fake coordinator serving TLS with certificates made by openssl at test
// time, client certificates, and the one-line errors of a TLS/plaintext mismatch.
#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "client/commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/tls/credentials.h"
#include "tests/client/fake_coordinator.h"
#include "tests/testing/test_certs.h"
#include "tests/testing/test_env.h"

namespace rib::client {
namespace {

using ::rib::client::testing::CliResult;
using ::rib::client::testing::FakeServer;
using ::rib::client::testing::RunRib;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class CliTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = ::rib::testing::MakeTestCertificatesOrSkip(dir_.path());
  }

  std::unique_ptr<FakeServer> TlsServer(const std::string& client_ca = "") {
    tls::ServerTlsOptions options;
    options.cert_file = certs_.server_cert;
    options.key_file = certs_.server_key;
    options.client_ca_file = client_ca;
    auto credentials = tls::MakeServerCredentials(options);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return std::make_unique<FakeServer>(*credentials);
  }

  ::rib::testing::ScratchDir dir_;
  ::rib::testing::TestCertificates certs_;
};

TEST_F(CliTlsTest, TlsCaFromTheFlagTheEnvironmentOrTheConfigFile) {
  auto server = TlsServer();
  const std::string address = server->address();
  CliResult r = RunRib({"--coordinator", address, "--tls-ca", certs_.ca_cert, "sweeps"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  // After the command, too.
  r = RunRib({"sweeps", "--coordinator", address, "--tls-ca", certs_.ca_cert});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  r = RunRib({"sweeps"}, {{"RIB_COORDINATOR", address}, {"RIB_TLS_CA", certs_.ca_cert}});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  const std::string config = dir_.Join("config.yaml");
  std::ofstream(config) << "coordinator: " << address << "\ntls_ca: ca.pem\n";
  r = RunRib({"sweeps"}, {{"RIB_CONFIG", config}});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(server->fake().calls().size(), 4u);
}

TEST_F(CliTlsTest, PlaintextClientOfATlsCoordinatorFailsMentioningTls) {
  auto server = TlsServer();
  CliResult r = RunRib({"--coordinator", server->address(), "sweeps"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_THAT(r.err, AllOf(StartsWith("rib: cannot reach coordinator at " +
                                      server->address() + " (UNAVAILABLE"),
                           HasSubstr("closed the plaintext connection"),
                           HasSubstr("give --tls-ca")));
  EXPECT_TRUE(server->fake().calls().empty());
}

TEST_F(CliTlsTest, TlsClientOfAPlaintextCoordinatorFailsMentioningTls) {
  FakeServer plaintext;
  CliResult r = RunRib(
      {"--coordinator", plaintext.address(), "--tls-ca", certs_.ca_cert, "sweeps"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_THAT(r.err, AllOf(StartsWith("rib: cannot reach coordinator at " +
                                      plaintext.address() + " (UNAVAILABLE"),
                           HasSubstr("TLS handshake failed"),
                           HasSubstr("seems to serve plaintext")));
}

TEST_F(CliTlsTest, UntrustedServerCertificateFailsMentioningTls) {
  auto server = TlsServer();
  CliResult r = RunRib(
      {"--coordinator", server->address(), "--tls-ca", certs_.other_ca_cert, "sweeps"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_THAT(r.err, AllOf(HasSubstr("UNAVAILABLE: TLS handshake failed"),
                           HasSubstr("certificate verify failed")));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);  // one line
}

TEST_F(CliTlsTest, ClientCertificateForACoordinatorThatRequiresOne) {
  auto server = TlsServer(certs_.ca_cert);
  CliResult r =
      RunRib({"--coordinator", server->address(), "--tls-ca", certs_.ca_cert, "sweeps"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_THAT(r.err, AllOf(HasSubstr("(UNAVAILABLE: the coordinator closed the TLS "
                                     "connection"),
                           HasSubstr("--tls-cert")));
  r = RunRib({"--coordinator", server->address(), "--tls-ca", certs_.ca_cert,
              "--tls-cert", certs_.client_cert, "--tls-key", certs_.client_key,
              "sweeps"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
}

TEST_F(CliTlsTest, UnreadableCaIsAUsageErrorNamingTheFile) {
  CliResult r = RunRib({"--tls-ca", dir_.Join("missing-ca.pem"), "sweeps"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, AllOf(StartsWith("rib: "), HasSubstr("missing-ca.pem")));
}

}  // namespace
}  // namespace rib::client
