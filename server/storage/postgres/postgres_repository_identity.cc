// PostgresRepository: tokens and quotas (identity, issue 13). Tokens are stored by
// their hash only (auth::TokenHash); the rules of who may do what are auth/policy.h's.
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/storage/postgres/pg_channels.h"
#include "server/storage/postgres/pg_job_writes.h"
#include "server/storage/postgres/pg_util.h"
#include "server/storage/postgres/postgres_repository.h"

namespace rib::storage {
namespace {

using domain::Quota;
using domain::TokenInfo;
using pg::TimeFromMicros;

constexpr char kTokenColumns[] =
    "id, user_name, role, created_by, (extract(epoch from created_at) * 1000000)::bigint,"
    " (extract(epoch from revoked_at) * 1000000)::bigint, revoked_by";

absl::StatusOr<TokenInfo> RowToToken(const pqxx::row& r) {
  TokenInfo t;
  t.id = r[0].as<std::string>();
  t.user = r[1].as<std::string>();
  std::optional<domain::Role> role = domain::ParseRole(r[2].as<std::string>());
  if (!role) {
    return absl::DataLossError(absl::StrCat("token ", t.id, " has an unknown role \"",
                                            r[2].as<std::string>(), "\""));
  }
  t.role = *role;
  t.created_by = r[3].as<std::string>();
  t.created_at = TimeFromMicros(r[4].as<int64_t>());
  if (!r[5].is_null()) t.revoked_at = TimeFromMicros(r[5].as<int64_t>());
  t.revoked_by = r[6].as<std::string>();
  return t;
}

// Quota rows: user, devices (NULL = unlimited), devices in use ($1: lease states).
std::string QuotaQuery() {
  return absl::StrCat(
      pg::DevicesInUseCte(1),
      "SELECT COALESCE(q.user_name, u.owner), q.devices, COALESCE(u.devices, 0)"
      " FROM quotas q FULL OUTER JOIN used u ON u.owner = q.user_name");
}

Quota RowToQuota(const pqxx::row& r) {
  Quota q;
  q.user = r[0].as<std::string>();
  if (!r[1].is_null()) q.devices = r[1].as<int>();
  q.devices_in_use = r[2].as<int>();
  return q;
}

}  // namespace

absl::StatusOr<TokenInfo> PostgresRepository::CreateToken(const std::string& hash,
                                                          const std::string& user,
                                                          domain::Role role,
                                                          const std::string& created_by) {
  return pg::RunTx(
      pool_.get(), "creating token", [&](pqxx::work& tx) -> absl::StatusOr<TokenInfo> {
        pqxx::result r = pg::Exec(
            tx,
            absl::StrCat("INSERT INTO tokens (hash, user_name, role,"
                         " created_by, created_at) VALUES ($1, $2, $3, $4,"
                         " $5::timestamptz) ON CONFLICT (hash) DO NOTHING"
                         " RETURNING ",
                         kTokenColumns),
            hash, user, domain::RoleName(role), created_by, pg::TimeParam(clock_->Now()));
        if (r.empty()) {
          return absl::InvalidArgumentError("a token with this hash exists");
        }
        return RowToToken(r[0]);
      });
}

absl::StatusOr<std::optional<domain::Principal>> PostgresRepository::FindToken(
    const std::string& hash) {
  using Out = absl::StatusOr<std::optional<domain::Principal>>;
  return pg::RunTx(pool_.get(), "checking token", [&](pqxx::work& tx) -> Out {
    pqxx::result r = pg::Exec(
        tx,
        "SELECT id, user_name, role FROM tokens WHERE hash = $1 AND revoked_at IS NULL",
        hash);
    if (r.empty()) return std::optional<domain::Principal>();
    std::optional<domain::Role> role = domain::ParseRole(r[0][2].as<std::string>());
    if (!role) return absl::DataLossError("a token has an unknown role");
    domain::Principal p;
    p.token_id = r[0][0].as<std::string>();
    p.user = r[0][1].as<std::string>();
    p.role = *role;
    return std::optional<domain::Principal>(std::move(p));
  });
}

absl::StatusOr<std::vector<TokenInfo>> PostgresRepository::ListTokens(
    bool include_revoked) {
  return pg::RunTx(pool_.get(), "listing tokens",
                   [&](pqxx::work& tx) -> absl::StatusOr<std::vector<TokenInfo>> {
                     std::vector<TokenInfo> out;
                     for (const auto& row : pg::Exec(
                              tx,
                              absl::StrCat("SELECT ", kTokenColumns,
                                           " FROM tokens WHERE $1 OR revoked_at IS NULL"
                                           " ORDER BY seq"),
                              include_revoked)) {
                       RIB_ASSIGN_OR_RETURN(TokenInfo t, RowToToken(row));
                       out.push_back(std::move(t));
                     }
                     return out;
                   });
}

absl::StatusOr<TokenInfo> PostgresRepository::RevokeToken(const std::string& token_id,
                                                          const std::string& revoked_by) {
  return pg::RunTx(
      pool_.get(), "revoking token", [&](pqxx::work& tx) -> absl::StatusOr<TokenInfo> {
        pg::Exec(tx,
                 "UPDATE tokens SET revoked_at = $2::timestamptz, revoked_by = $3"
                 " WHERE id = $1 AND revoked_at IS NULL",
                 token_id, pg::TimeParam(clock_->Now()), revoked_by);
        // Every coordinator's cache of authenticated tokens forgets them on commit.
        pg::Exec(tx, "SELECT pg_notify($1, '')", pg::kTokensChannel);
        pqxx::result r = pg::Exec(
            tx, absl::StrCat("SELECT ", kTokenColumns, " FROM tokens WHERE id = $1"),
            token_id);
        if (r.empty()) return absl::NotFoundError(absl::StrCat("no token ", token_id));
        return RowToToken(r[0]);
      });
}

absl::StatusOr<Quota> PostgresRepository::SetQuota(const std::string& user,
                                                   std::optional<int> devices) {
  return pg::RunTx(
      pool_.get(), "setting quota", [&](pqxx::work& tx) -> absl::StatusOr<Quota> {
        if (devices) {
          pg::Exec(tx,
                   "INSERT INTO quotas (user_name, devices) VALUES ($1, $2)"
                   " ON CONFLICT (user_name) DO UPDATE SET devices = EXCLUDED.devices",
                   user, *devices);
        } else {
          pg::Exec(tx, "DELETE FROM quotas WHERE user_name = $1", user);
        }
        Quota q;
        q.user = user;
        q.devices = devices;
        for (const auto& row : pg::Exec(
                 tx,
                 absl::StrCat(QuotaQuery(), " WHERE COALESCE(q.user_name, u.owner) = $2"),
                 pg::LeaseHoldingStatesParam(), user)) {
          q.devices_in_use = RowToQuota(row).devices_in_use;
        }
        return q;
      });
}

absl::StatusOr<std::vector<Quota>> PostgresRepository::ListQuotas() {
  return pg::RunTx(
      pool_.get(), "listing quotas",
      [&](pqxx::work& tx) -> absl::StatusOr<std::vector<Quota>> {
        std::vector<Quota> out;
        for (const auto& row : pg::Exec(tx, absl::StrCat(QuotaQuery(), " ORDER BY 1"),
                                        pg::LeaseHoldingStatesParam())) {
          out.push_back(RowToQuota(row));
        }
        return out;
      });
}

}  // namespace rib::storage
