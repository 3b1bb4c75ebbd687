// The coordinator serves plaintext only on loopback unless told otherwise
// (CheckListenSecurity, server/coordinator.h). Needs no database: Create checks the
// listen address before it connects.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/coordinator.h"
#include "tests/testing/status_matchers.h"

namespace rib {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(CoordinatorListenTest, LoopbackAddresses) {
  for (const char* address :
       {"127.0.0.1:7070", "127.0.0.1:0", "127.1.2.3:7070", "localhost:7070",
        "LOCALHOST:1", "[::1]:7070", "ipv4:127.0.0.1:7070", "ipv6:[::1]:7070",
        "[::ffff:127.0.0.1]:7070", "unix:/tmp/rib.sock"}) {
    EXPECT_TRUE(IsLoopbackListenAddress(address)) << address;
  }
  for (const char* address : {"0.0.0.0:7070", "[::]:7070", ":7070", "10.0.0.5:7070",
                              "192.168.1.2:0", "coord.lab:7070", "[2001:db8::1]:7070",
                              "128.0.0.1:7070", "[::ffff:10.0.0.1]:1"}) {
    EXPECT_FALSE(IsLoopbackListenAddress(address)) << address;
  }
}

TEST(CoordinatorListenTest, NonLoopbackNeedsTlsOrInsecureListen) {
  CoordinatorOptions options;
  options.listen = "0.0.0.0:7070";
  EXPECT_THAT(CheckListenSecurity(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("0.0.0.0:7070"), HasSubstr("--tls-cert"),
                             HasSubstr("--insecure-listen"))));
  options.insecure_listen = true;
  EXPECT_THAT(CheckListenSecurity(options), IsOk());
  options.insecure_listen = false;
  options.tls_cert_file = "server.pem";
  options.tls_key_file = "server.key";
  EXPECT_THAT(CheckListenSecurity(options), IsOk());

  CoordinatorOptions loopback;  // the default 127.0.0.1:0
  EXPECT_THAT(CheckListenSecurity(loopback), IsOk());
}

TEST(CoordinatorListenTest, CreateRefusesPlaintextOnEveryInterface) {
  CoordinatorOptions options;
  options.database_uri = "postgresql://nobody@127.0.0.1:1/never-connected";
  options.listen = "[::]:0";
  EXPECT_THAT(Coordinator::Create(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("--tls-cert"), HasSubstr("--insecure-listen"))));
}

}  // namespace
}  // namespace rib
