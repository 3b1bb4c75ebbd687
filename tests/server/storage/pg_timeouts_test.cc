// rib-test-labels: postgres
// Bounded waits on PostgreSQL (issue 14, item 3): the connection string gets a connect
// timeout, keepalives and a statement_timeout unless the user's URI sets them; a
// black-holed server, a pool with every connection held and a statement that runs too
// long all answer UNAVAILABLE instead of hanging; a broken connection is not reused.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pqxx/pqxx>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/storage/postgres/pg_change_notifier.h"
#include "server/storage/postgres/pg_util.h"
#include "server/storage/postgres/postgres_repository.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/server/testing/tcp_proxy.h"
#include "tests/testing/status_matchers.h"

namespace rib::storage::pg {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::PgTestUri;
using ::rib::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new ::rib::testing::PgEnvironment("timeouts"));

TEST(ConnectionStringTest, AddsTheDefaultsToAUri) {
  RIB_ASSERT_OK_AND_ASSIGN(
      std::string conninfo,
      ConnectionString("postgresql://rib@db.example:6543/ribdb", ConnectionOptions()));
  EXPECT_THAT(conninfo, AllOf(HasSubstr("user='rib'"), HasSubstr("host='db.example'"),
                              HasSubstr("port='6543'"), HasSubstr("dbname='ribdb'")));
  EXPECT_THAT(
      conninfo,
      AllOf(HasSubstr("connect_timeout='5'"), HasSubstr("keepalives='1'"),
            HasSubstr("keepalives_idle='10'"), HasSubstr("keepalives_interval='5'"),
            HasSubstr("keepalives_count='3'"), HasSubstr("tcp_user_timeout='25000'"),
            HasSubstr("options='-c statement_timeout=30000'")));
}

TEST(ConnectionStringTest, KeepsWhatTheUserSet) {
  RIB_ASSERT_OK_AND_ASSIGN(
      std::string conninfo,
      ConnectionString("postgresql://rib@db/rib?connect_timeout=17&keepalives_idle=99"
                       "&options=-c%20statement_timeout%3D5s",
                       ConnectionOptions()));
  EXPECT_THAT(conninfo,
              AllOf(HasSubstr("connect_timeout='17'"), HasSubstr("keepalives_idle='99'"),
                    HasSubstr("options='-c statement_timeout=5s'"),
                    Not(HasSubstr("connect_timeout='5'")), Not(HasSubstr("30000")),
                    HasSubstr("keepalives_count='3'")));
}

TEST(ConnectionStringTest, AppendsTheStatementTimeoutToOtherServerOptions) {
  ConnectionOptions options;
  options.statement_timeout = absl::Milliseconds(1500);
  options.connect_timeout = absl::Milliseconds(2500);  // rounded up to whole seconds
  RIB_ASSERT_OK_AND_ASSIGN(
      std::string conninfo,
      ConnectionString("host=/tmp dbname=rib options='-c search_path=it\\'s'", options));
  EXPECT_THAT(
      conninfo,
      AllOf(HasSubstr("host='/tmp'"), HasSubstr("connect_timeout='3'"),
            HasSubstr("options='-c search_path=it\\'s -c statement_timeout=1500'")));
}

TEST(ConnectionStringTest, NoStatementTimeoutWhenZero) {
  ConnectionOptions options;
  options.statement_timeout = absl::ZeroDuration();
  RIB_ASSERT_OK_AND_ASSIGN(std::string conninfo,
                           ConnectionString("postgresql://rib@db/rib", options));
  EXPECT_THAT(conninfo,
              AllOf(Not(HasSubstr("statement_timeout")), HasSubstr("keepalives='1'")));
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

TEST(ConnectionStringTest, ItsOutputIsAConninfoThatGetsNothingAddedTwice) {
  RIB_ASSERT_OK_AND_ASSIGN(
      std::string once,
      ConnectionString("postgresql://u:p%27w@h1:5432,h2:5433/d?sslmode=require",
                       ConnectionOptions()));
  EXPECT_THAT(once, AllOf(HasSubstr("password='p\\'w'"), HasSubstr("host='h1,h2'"),
                          HasSubstr("port='5432,5433'"), HasSubstr("sslmode='require'")));
  RIB_ASSERT_OK_AND_ASSIGN(std::string twice,
                           ConnectionString(once, ConnectionOptions()));
  EXPECT_EQ(twice.size(), once.size());
  for (const char* key : {"connect_timeout=", "keepalives=", "statement_timeout=",
                          "tcp_user_timeout=", "password="}) {
    EXPECT_EQ(Count(twice, key), 1) << key << " in " << twice;
  }
}

TEST(ConnectionStringTest, AMalformedUriIsInvalidArgument) {
  EXPECT_THAT(
      ConnectionString("postgresql://rib@db/rib?nonsense_key=1", ConnectionOptions()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not parse")));
}

// A TCP port that completes connections (the kernel's backlog) and never answers: what
// a server behind a black-holing firewall or a frozen VM looks like to libpq.
class BlackHole {
 public:
  BlackHole() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 64), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~BlackHole() { close(fd_); }
  std::string Uri() const {
    return absl::StrCat("postgresql://rib@127.0.0.1:", port_, "/rib");
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

ConnectionOptions Quick() {
  ConnectionOptions c;
  c.connect_timeout = absl::Seconds(2);  // libpq's minimum
  return c;
}

TEST(BlackHoledDatabaseTest, CreatingARepositoryAnswersUnavailableInTime) {
  BlackHole hole;
  PostgresOptions options;
  options.uri = hole.Uri();
  options.connection = Quick();
  const absl::Time start = absl::Now();
  EXPECT_THAT(PostgresRepository::Create(options),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("timeout")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3 * 2));
}

TEST(BlackHoledDatabaseTest, TheChangeNotifierAnswersUnavailableInTime) {
  BlackHole hole;
  const absl::Time start = absl::Now();
  EXPECT_THAT(PgChangeNotifier::Create(hole.Uri(), Quick()),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3 * 2));
}

Pool::Options PoolOf1() {
  Pool::Options options;
  options.size = 1;
  options.acquire_timeout = absl::Milliseconds(300);
  return options;
}

absl::StatusOr<int> SelectOne(Pool* pool) {
  return RunTx(pool, "selecting one", [](pqxx::work& tx) -> absl::StatusOr<int> {
    return tx.exec1("SELECT 1")[0].as<int>();
  });
}

TEST(PoolTest, AcquireGivesUpWhenEveryConnectionIsHeld) {
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Pool> pool,
                           Pool::Create(PgTestUri(), PoolOf1()));
  {
    RIB_ASSERT_OK_AND_ASSIGN(Pool::Handle held, pool->Acquire());
    const absl::Time start = absl::Now();
    EXPECT_THAT(pool->Acquire(),
                StatusIs(absl::StatusCode::kUnavailable,
                         AllOf(HasSubstr("no database connection free within 300ms"),
                               HasSubstr("pool of 1"))));
    EXPECT_THAT(SelectOne(pool.get()),
                StatusIs(absl::StatusCode::kUnavailable,
                         AllOf(HasSubstr("selecting one: no database connection free"))));
    EXPECT_LT(absl::Now() - start, absl::Seconds(3 * 2 * 0.3));
    // A deadline sooner than the pool's timeout is honoured.
    EXPECT_THAT(pool->Acquire(absl::Now() + absl::Milliseconds(50)),
                StatusIs(absl::StatusCode::kUnavailable, HasSubstr("within 50ms")));
  }
  // Released: the one connection is free again.
  EXPECT_THAT(SelectOne(pool.get()), IsOk());
}

TEST(PoolTest, AStatementPastStatementTimeoutIsCancelled) {
  Pool::Options options = PoolOf1();
  options.connection.statement_timeout = absl::Milliseconds(300);
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Pool> pool,
                           Pool::Create(PgTestUri(), options));
  const absl::Time start = absl::Now();
  absl::StatusOr<int> slept =
      RunTx(pool.get(), "sleeping", [](pqxx::work& tx) -> absl::StatusOr<int> {
        tx.exec("SELECT pg_sleep(60)");
        return 0;
      });
  EXPECT_THAT(slept, StatusIs(absl::StatusCode::kUnavailable,
                              AllOf(HasSubstr("sleeping: statement cancelled"),
                                    HasSubstr("statement timeout"))));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  // The connection survived the cancel and is used again.
  EXPECT_THAT(SelectOne(pool.get()), IsOk());
}

TEST(PoolTest, ABrokenConnectionIsDroppedNotReused) {
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Pool> pool,
                           Pool::Create(PgTestUri(), PoolOf1()));
  std::string pid;
  {
    RIB_ASSERT_OK_AND_ASSIGN(Pool::Handle handle, pool->Acquire());
    pid = std::to_string((*handle).backendpid());
  }
  // The server ends the idle pooled connection (a restart, an admin, a proxy timeout).
  EXPECT_EQ(::rib::testing::QueryOne(
                PgTestUri(), absl::StrCat("SELECT pg_terminate_backend(", pid, ")")),
            "t");
  absl::StatusOr<int> backend =
      RunTx(pool.get(), "backend", [](pqxx::work& tx) -> absl::StatusOr<int> {
        return tx.exec1("SELECT pg_backend_pid()")[0].as<int>();
      });
  ASSERT_THAT(backend, IsOk());
  EXPECT_NE(std::to_string(*backend), pid);
}

// The server goes silent after the pool connected; the pooled connection is gone, so
// the next transaction opens a new one, which the silent server never answers.
TEST(BlackHoledDatabaseTest, ATransactionAnswersUnavailableWithinTheConnectTimeout) {
  ::rib::testing::TcpProxy proxy(::rib::testing::PortOf(PgTestUri()));
  Pool::Options options = PoolOf1();
  options.connection = Quick();
  RIB_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Pool> pool,
      Pool::Create(::rib::testing::WithPort(PgTestUri(), proxy.port()), options));
  {
    RIB_ASSERT_OK_AND_ASSIGN(Pool::Handle handle, pool->Acquire());
    handle.Discard();
  }
  proxy.Silence();
  const absl::Time start = absl::Now();
  EXPECT_THAT(SelectOne(pool.get()),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("selecting one: connecting to PostgreSQL"),
                             HasSubstr("timeout"))));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3 * 2));
}

// A statement sent to a server that went silent once connected waits for an answer
// that never comes (the kernel acknowledges the bytes, so no TCP timer fires); Close
// ends it, as Coordinator::Shutdown does.
TEST(PoolTest, CloseReleasesAStatementBlockedOnASilentServer) {
  ::rib::testing::TcpProxy proxy(::rib::testing::PortOf(PgTestUri()));
  Pool::Options options = PoolOf1();
  options.connection.statement_timeout = absl::ZeroDuration();
  RIB_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Pool> pool,
      Pool::Create(::rib::testing::WithPort(PgTestUri(), proxy.port()), options));
  ASSERT_THAT(SelectOne(pool.get()), IsOk());
  proxy.Silence();
  absl::StatusOr<int> blocked;
  absl::Notification returned;
  std::thread caller([&] {
    blocked = SelectOne(pool.get());
    returned.Notify();
  });
  EXPECT_FALSE(returned.WaitForNotificationWithTimeout(absl::Milliseconds(500)))
      << "the statement should be waiting on the silent server";
  pool->Close();
  const bool in_time = returned.WaitForNotificationWithTimeout(absl::Seconds(5));
  EXPECT_TRUE(in_time) << "Close did not release the blocked statement";
  if (!in_time) {
    caller.detach();  // a failed test, not a hung one
    return;
  }
  caller.join();
  EXPECT_THAT(blocked, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(pool->Acquire(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("closed")));
}

}  // namespace
}  // namespace rib::storage::pg
