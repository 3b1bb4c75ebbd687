#include "tests/server/testing/tokens.h"

#include "gtest/gtest.h"
#include "server/service/identity_service.h"
#include "server/storage/postgres/postgres_repository.h"

namespace rib::testing {

std::string MakeToken(const std::string& uri, const std::string& user,
                      domain::Role role) {
  storage::PostgresOptions options;
  options.uri = uri;
  options.pool_size = 1;
  auto repo = storage::PostgresRepository::Create(options);
  EXPECT_TRUE(repo.ok()) << repo.status();
  if (!repo.ok()) return "";
  service::IdentityService identity(repo->get());
  auto made = identity.CreateToken(user, role, "test");
  EXPECT_TRUE(made.ok()) << made.status();
  return made.ok() ? made->token : "";
}

TestTokens MakeTestTokens(const std::string& uri) {
  TestTokens t;
  t.alice = MakeToken(uri, "alice");
  t.bob = MakeToken(uri, "bob");
  t.root = MakeToken(uri, "root", domain::Role::kAdmin);
  t.worker = MakeToken(uri, "node-worker", domain::Role::kWorker);
  return t;
}

}  // namespace rib::testing
