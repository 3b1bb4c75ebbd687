// rib-test-labels: postgres
// The coordinator over TLS (server/coordinator.h, proto/tls/credentials.h): a real
// Coordinator on port 0 with certificates made by openssl at test time, and clients
// built the way the CLI and the worker build theirs (tls::MakeChannel).
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/tls/credentials.h"
#include "rib/v1/coordinator.grpc.pb.h"
#include "server/coordinator.h"
#include "tests/server/testing/list_sweeps_call.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/server/testing/tokens.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_certs.h"
#include "tests/testing/test_env.h"

namespace rib {
namespace {

using ::rib::testing::StatusIs;
using ::testing::AnyOf;
using ::testing::HasSubstr;

auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new ::rib::testing::PgEnvironment("tls"));

class CoordinatorTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = ::rib::testing::MakeTestCertificatesOrSkip(dir_.path());
    ::rib::testing::TruncateAllTables();
    token_ = ::rib::testing::MakeToken(::rib::testing::PgTestUri(), "alice");
  }
  void TearDown() override {
    if (coordinator_ != nullptr) coordinator_->Shutdown(absl::ZeroDuration());
  }

  CoordinatorOptions Options() const {
    CoordinatorOptions options;
    options.database_uri = ::rib::testing::PgTestUri();
    options.artifact_root = dir_.path();
    return options;
  }

  // Starts a coordinator on 127.0.0.1:0; returns its address.
  std::string Start(CoordinatorOptions options) {
    auto coordinator = Coordinator::Create(std::move(options));
    EXPECT_TRUE(coordinator.ok()) << coordinator.status();
    if (!coordinator.ok()) return "";
    coordinator_ = *std::move(coordinator);
    absl::Status started = coordinator_->Start();
    EXPECT_TRUE(started.ok()) << started;
    return absl::StrCat("127.0.0.1:", coordinator_->port());
  }
  std::string StartTls(const std::string& client_ca = "") {
    CoordinatorOptions options = Options();
    options.tls_cert_file = certs_.server_cert;
    options.tls_key_file = certs_.server_key;
    options.tls_client_ca_file = client_ca;
    return Start(options);
  }

  grpc::Status Call(const std::string& address, const tls::ClientTlsOptions& tls) const {
    return ::rib::testing::ListSweepsCall(address, tls, token_);
  }

  tls::ClientTlsOptions TrustingCa() const {
    tls::ClientTlsOptions tls;
    tls.ca_file = certs_.ca_cert;
    return tls;
  }

  ::rib::testing::ScratchDir dir_;
  ::rib::testing::TestCertificates certs_;
  std::string token_;  // alice's
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(CoordinatorTlsTest, ClientTrustingTheCaSucceedsAndAPlaintextClientFails) {
  const std::string address = StartTls();
  grpc::Status ok = Call(address, TrustingCa());
  EXPECT_TRUE(ok.ok()) << ok.error_message();

  grpc::Status plaintext = Call(address, tls::ClientTlsOptions());
  EXPECT_EQ(plaintext.error_code(), grpc::StatusCode::UNAVAILABLE)
      << plaintext.error_message();
}

TEST_F(CoordinatorTlsTest, ClientTrustingAnotherCaFails) {
  const std::string address = StartTls();
  tls::ClientTlsOptions other;
  other.ca_file = certs_.other_ca_cert;
  grpc::Status s = Call(address, other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // gRPC names the failed handshake.
  EXPECT_THAT(s.error_message(), AnyOf(HasSubstr("TLS"), HasSubstr("SSL"),
                                       HasSubstr("Ssl"), HasSubstr("handshake")));
}

TEST_F(CoordinatorTlsTest, TlsClientAgainstAPlaintextCoordinatorFails) {
  const std::string address = Start(Options());
  grpc::Status s = Call(address, TrustingCa());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_THAT(s.error_message(), AnyOf(HasSubstr("TLS"), HasSubstr("SSL"),
                                       HasSubstr("Ssl"), HasSubstr("handshake")));
  // The plaintext coordinator on loopback still serves plaintext clients.
  grpc::Status plaintext = Call(address, tls::ClientTlsOptions());
  EXPECT_TRUE(plaintext.ok()) << plaintext.error_message();
}

TEST_F(CoordinatorTlsTest, ServerNameOverrideChecksAnotherName) {
  CoordinatorOptions options = Options();
  options.tls_cert_file = certs_.named_server_cert;  // DNS:coordinator.rib.test only
  options.tls_key_file = certs_.named_server_key;
  const std::string address = Start(options);
  // 127.0.0.1 is not the certificate's name...
  grpc::Status mismatch = Call(address, TrustingCa());
  EXPECT_EQ(mismatch.error_code(), grpc::StatusCode::UNAVAILABLE)
      << mismatch.error_message();
  // ...coordinator.rib.test is.
  tls::ClientTlsOptions named = TrustingCa();
  named.server_name = "coordinator.rib.test";
  grpc::Status ok = Call(address, named);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
}

TEST_F(CoordinatorTlsTest, ClientCaRequiresAClientCertificateItSigned) {
  const std::string address = StartTls(certs_.ca_cert);
  grpc::Status none = Call(address, TrustingCa());
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAVAILABLE) << none.error_message();

  tls::ClientTlsOptions other = TrustingCa();
  other.cert_file = certs_.other_client_cert;  // signed by another CA
  other.key_file = certs_.other_client_key;
  grpc::Status foreign = Call(address, other);
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::UNAVAILABLE)
      << foreign.error_message();

  tls::ClientTlsOptions with_cert = TrustingCa();
  with_cert.cert_file = certs_.client_cert;
  with_cert.key_file = certs_.client_key;
  grpc::Status ok = Call(address, with_cert);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
}

TEST_F(CoordinatorTlsTest, UnreadableOrMalformedFilesFailCreateNamingTheFile) {
  CoordinatorOptions options = Options();
  options.tls_cert_file = dir_.Join("missing.pem");
  options.tls_key_file = certs_.server_key;
  EXPECT_THAT(Coordinator::Create(options).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.pem")));

  const std::string garbage = dir_.Join("garbage.pem");
  std::ofstream(garbage) << "not a certificate\n";
  options.tls_cert_file = garbage;
  EXPECT_THAT(Coordinator::Create(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("garbage.pem")));

  options.tls_cert_file = certs_.server_cert;
  options.tls_key_file = garbage;
  EXPECT_THAT(Coordinator::Create(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("garbage.pem")));

  // A key that belongs to another certificate.
  options.tls_key_file = certs_.client_key;
  EXPECT_THAT(Coordinator::Create(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not match the certificate")));

  // A certificate without its key.
  options.tls_key_file = "";
  EXPECT_THAT(Coordinator::Create(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("private key")));

  options.tls_key_file = certs_.server_key;
  options.tls_client_ca_file = dir_.Join("no-ca.pem");
  EXPECT_THAT(Coordinator::Create(options).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no-ca.pem")));
}

}  // namespace
}  // namespace rib
