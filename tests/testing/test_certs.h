// Real X.509 certificates for the TLS tests, made at test time by running the openssl
// command in a scratch directory: a CA, a server certificate for localhost / 127.0.0.1,
// a client certificate signed by the CA, and an unrelated second CA. EC P-256 keys, so
// making them takes a fraction of a second. Thread-compatible.
#ifndef RIB_TESTS_TESTING_TEST_CERTS_H_
#define RIB_TESTS_TESTING_TEST_CERTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace rib::testing {

// Paths of PEM files.
struct TestCertificates {
  std::string ca_cert;      // the CA that signs the three below
  std::string server_cert;  // CN=localhost, subjectAltName DNS:localhost, IP:127.0.0.1
  std::string server_key;
  std::string named_server_cert;  // subjectAltName DNS:coordinator.rib.test only
  std::string named_server_key;
  std::string client_cert;  // CN=rib-test-worker, extendedKeyUsage clientAuth
  std::string client_key;
  std::string other_ca_cert;      // a CA that signed none of them
  std::string other_client_cert;  // signed by other_ca_cert
  std::string other_client_key;
};

// Whether an `openssl` command is on PATH.
bool HaveOpenssl();

// Makes the certificates under `dir` (which must exist). INTERNAL with openssl's
// output when a command fails.
absl::StatusOr<TestCertificates> MakeTestCertificates(const std::string& dir);

// MakeTestCertificates, or exits with kSkipExitCode (77, "skipped") when openssl is
// missing and fails the test when a command fails. For a test's SetUp().
TestCertificates MakeTestCertificatesOrSkip(const std::string& dir);

}  // namespace rib::testing

#endif  // RIB_TESTS_TESTING_TEST_CERTS_H_
