#include "tests/testing/test_certs.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/test_env.h"

namespace rib::testing {
namespace {

// One openssl config for every certificate, so nothing depends on the system's
// openssl.cnf (whose default extensions differ between distributions).
constexpr char kConfig[] = R"([req]
distinguished_name = dn
prompt = no
[dn]
CN = rib test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
[named_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:coordinator.rib.test
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
)";

constexpr char kNewKey[] = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class Maker {
 public:
  explicit Maker(std::string dir) : dir_(std::move(dir)), log_(dir_ + "/openssl.log") {}

  absl::Status Run(const std::string& args) {
    const std::string command =
        absl::StrCat("cd '", dir_, "' && openssl ", args, " >>'", log_, "' 2>&1");
    if (std::system(command.c_str()) != 0) {
      return absl::InternalError(
          absl::StrCat("`openssl ", args, "` failed:\n", ReadAll(log_)));
    }
    return absl::OkStatus();
  }

  absl::Status Ca(const std::string& name, const std::string& cn) {
    return Run(absl::StrCat("req -x509 ", kNewKey, " -config openssl.cnf -extensions ca",
                            " -subj '/CN=", cn, "' -days 2 -keyout ", name, ".key -out ",
                            name, ".pem"));
  }

  absl::Status Leaf(const std::string& name, const std::string& cn,
                    const std::string& extensions, const std::string& ca, int serial) {
    if (absl::Status s =
            Run(absl::StrCat("req -new ", kNewKey, " -config openssl.cnf -subj '/CN=", cn,
                             "' -keyout ", name, ".key -out ", name, ".csr"));
        !s.ok()) {
      return s;
    }
    return Run(absl::StrCat("x509 -req -in ", name, ".csr -CA ", ca, ".pem -CAkey ", ca,
                            ".key -set_serial ", serial,
                            " -days 2 -extfile openssl.cnf -extensions ", extensions,
                            " -out ", name, ".pem"));
  }

  std::string Path(const std::string& file) const { return dir_ + "/" + file; }

 private:
  std::string dir_;
  std::string log_;
};

}  // namespace

bool HaveOpenssl() { return std::system("openssl version >/dev/null 2>&1") == 0; }

absl::StatusOr<TestCertificates> MakeTestCertificates(const std::string& dir) {
  std::ofstream(dir + "/openssl.cnf") << kConfig;
  Maker m(dir);
  for (absl::Status s :
       {m.Ca("ca", "rib test CA"), m.Ca("other_ca", "rib other CA"),
        m.Leaf("server", "localhost", "server", "ca", 2),
        m.Leaf("named_server", "coordinator.rib.test", "named_server", "ca", 3),
        m.Leaf("client", "rib-test-worker", "client", "ca", 4),
        m.Leaf("other_client", "rib-other-worker", "client", "other_ca", 5)}) {
    if (!s.ok()) return s;
  }
  TestCertificates certs;
  certs.ca_cert = m.Path("ca.pem");
  certs.server_cert = m.Path("server.pem");
  certs.server_key = m.Path("server.key");
  certs.named_server_cert = m.Path("named_server.pem");
  certs.named_server_key = m.Path("named_server.key");
  certs.client_cert = m.Path("client.pem");
  certs.client_key = m.Path("client.key");
  certs.other_ca_cert = m.Path("other_ca.pem");
  certs.other_client_cert = m.Path("other_client.pem");
  certs.other_client_key = m.Path("other_client.key");
  return certs;
}

TestCertificates MakeTestCertificatesOrSkip(const std::string& dir) {
  if (!HaveOpenssl()) {
    std::fprintf(stderr, "no openssl command: skipping the TLS tests\n");
    std::exit(kSkipExitCode);
  }
  absl::StatusOr<TestCertificates> certs = MakeTestCertificates(dir);
  EXPECT_TRUE(certs.ok()) << certs.status();
  return certs.ok() ? *certs : TestCertificates();
}

}  // namespace rib::testing
