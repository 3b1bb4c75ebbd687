#include "tests/server/testing/tokens.h"

#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/service/identity_service.h"
#include "server/storage/postgres/postgres_repository.h"

namespace rib::testing {

namespace {

// The tokens for `users` (user, role), made on one connection to the database at `uri`.
std::vector<std::string> MakeTokens(
    const std::string& uri, const std::vector<std::pair<std::string, domain::Role>>& users) {
  storage::PostgresOptions options;
  options.uri = uri;
  options.pool_size = 1;
  auto repo = storage::PostgresRepository::Create(options);
  EXPECT_TRUE(repo.ok()) << repo.status();
  std::vector<std::string> out;
  if (!repo.ok()) return std::vector<std::string>(users.size());
  service::IdentityService identity(repo->get());
  for (const auto& [user, role] : users) {
    auto made = identity.CreateToken(user, role, "test");
    EXPECT_TRUE(made.ok()) << made.status();
    out.push_back(made.ok() ? made->token : "");
  }
  return out;
}

}  // namespace

std::string MakeToken(const std::string& uri, const std::string& user,
                      domain::Role role) {
  return MakeTokens(uri, {{user, role}})[0];
}

TestTokens MakeTestTokens(const std::string& uri) {
  const std::vector<std::string> t =
      MakeTokens(uri, {{"alice", domain::Role::kUser},
                       {"bob", domain::Role::kUser},
                       {"root", domain::Role::kAdmin},
                       {"node-worker", domain::Role::kWorker}});
  return TestTokens{t[0], t[1], t[2], t[3]};
}

}  // namespace rib::testing
