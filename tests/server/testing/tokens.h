// Bearer tokens for tests: made in the test database the way `rib-coordinator token
// create` makes them (service::IdentityService on the migrated database), and a
// grpc::ClientContext that sends one.
#ifndef RIB_TESTS_SERVER_TESTING_TOKENS_H_
#define RIB_TESTS_SERVER_TESTING_TOKENS_H_

#include <grpcpp/client_context.h>

#include <string>

#include "server/domain/types.h"

namespace rib::testing {

// A new token for `user` with `role` in the database at `uri` (migrated). Fails the
// test (and returns "") when it cannot be made.
std::string MakeToken(const std::string& uri, const std::string& user,
                      domain::Role role = domain::Role::kUser);

// The tokens most tests need: alice and bob (users), root (admin), and the workers'.
struct TestTokens {
  std::string alice;
  std::string bob;
  std::string root;
  std::string worker;
};
TestTokens MakeTestTokens(const std::string& uri);

// A ClientContext whose calls carry "authorization: Bearer TOKEN" ("" = no token).
class AuthContext : public grpc::ClientContext {
 public:
  explicit AuthContext(const std::string& token) {
    if (!token.empty()) AddMetadata("authorization", "Bearer " + token);
  }
};

}  // namespace rib::testing

#endif  // RIB_TESTS_SERVER_TESTING_TOKENS_H_
