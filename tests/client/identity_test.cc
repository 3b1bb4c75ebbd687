// The rib CLI's identity and administration commands against the fake coordinator:
// login (the config file it writes), whoami, token, quota, undrain, priority, who
// cancelled a sweep, and the hints of UNAUTHENTICATED / PERMISSION_DENIED answers.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "client/commands.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_coordinator.h"
#include "tests/testing/test_env.h"

namespace rib::client {
namespace {

using ::rib::client::testing::CliResult;
using ::rib::client::testing::FakeServer;
using ::rib::client::testing::RunRib;
using ::rib::testing::ScratchDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace v1 = ::rib::v1;

const char kToken[] =
    "rib_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Permission bits of `path`; -1 when it does not exist.
int Mode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

class IdentityTest : public ::testing::Test {
 protected:
  IdentityTest() {
    v1::WhoAmIResponse me;
    me.set_user("alice");
    me.set_role(v1::ROLE_ADMIN);
    me.set_token_id("tok-7");
    server_.fake().SetWhoAmI(me);
  }
  CliResult Rib(std::vector<std::string> args,
                std::map<std::string, std::string> env = {},
                const std::string& stdin_text = "") {
    args.insert(args.begin(), {"--coordinator", server_.address()});
    return RunRib(args, env, false, {}, 0, stdin_text);
  }

  FakeServer server_;
  ScratchDir dir_;
};

// ---- login ----

TEST_F(IdentityTest, LoginSavesTheTokenWithMode0600AndKeepsOtherKeys) {
  const std::string cfg = dir_.Join("config.yaml");
  std::ofstream(cfg) << "# my settings\ncoordinator: " << server_.address()
                     << "\ntoken: old-token\nlabels: [a, b]\n";
  chmod(cfg.c_str(), 0644);
  CliResult r = RunRib({"login", "--token", kToken}, {{"RIB_CONFIG", cfg}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "logged in as alice (role admin); token saved to " + cfg + "\n");
  EXPECT_EQ(ReadFile(cfg), "# my settings\ncoordinator: " + server_.address() +
                               "\ntoken: " + kToken + "\nlabels: [a, b]\n");
  EXPECT_EQ(Mode(cfg), 0600);
  // WhoAmI carried the token being checked, not the one in the file.
  EXPECT_THAT(server_.fake().calls(), ElementsAre("WhoAmI"));
  EXPECT_THAT(server_.fake().authorizations(),
              ElementsAre(std::string("Bearer ") + kToken));
  // No temporary file is left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
  // The next command uses the saved token.
  Rib({"whoami"}, {{"RIB_CONFIG", cfg}});
  EXPECT_EQ(server_.fake().authorizations().back(), std::string("Bearer ") + kToken);
}

TEST_F(IdentityTest, LoginReadsTheTokenFromStdinAndCreatesTheFile) {
  // $HOME/.config/rib/ does not exist yet.
  const std::string home = dir_.Join("home");
  CliResult r = Rib({"login"}, {{"HOME", home}}, std::string("  ") + kToken + "  \n");
  EXPECT_EQ(r.code, 0) << r.err;
  const std::string cfg = home + "/.config/rib/config.yaml";
  EXPECT_EQ(r.out, "logged in as alice (role admin); token saved to " + cfg + "\n");
  EXPECT_EQ(r.err, "");  // no prompt: stdin is not a terminal
  EXPECT_EQ(ReadFile(cfg), std::string("token: ") + kToken + "\n");
  EXPECT_EQ(Mode(cfg), 0600);
  EXPECT_THAT(server_.fake().authorizations(),
              ElementsAre(std::string("Bearer ") + kToken));

  // $RIB_CONFIG naming a file that does not exist yet: login creates it.
  const std::string named = dir_.Join("new/rib.yaml");
  r = Rib({"login", "--token", kToken}, {{"RIB_CONFIG", named}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ReadFile(named), std::string("token: ") + kToken + "\n");
  EXPECT_EQ(Mode(named), 0600);
}

TEST_F(IdentityTest, LoginWithARejectedTokenWritesNothing) {
  server_.fake().SetError(
      "WhoAmI", grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown token"));
  const std::string cfg = dir_.Join("config.yaml");
  std::ofstream(cfg) << "token: old-token\n";
  chmod(cfg.c_str(), 0644);
  CliResult r = Rib({"login", "--token", "rib_bad"}, {{"RIB_CONFIG", cfg}});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "rib: login: the coordinator at " + server_.address() +
                       " refused this token (UNAUTHENTICATED: unknown token); nothing "
                       "saved\n");
  EXPECT_EQ(ReadFile(cfg), "token: old-token\n");
  EXPECT_EQ(Mode(cfg), 0644);

  const std::string home = dir_.Join("home");
  r = Rib({"login"}, {{"HOME", home}}, "rib_bad\n");
  EXPECT_EQ(r.code, kExitError);
  EXPECT_FALSE(std::filesystem::exists(home));

  // No token at all: a usage-like error before any call.
  r = Rib({"login"}, {{"HOME", home}}, "\n");
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err,
            "rib: login: no token given (--token T, or the token as one line on "
            "stdin)\n");
  EXPECT_THAT(server_.fake().calls(), ElementsAre("WhoAmI", "WhoAmI"));
}

// ---- tokens on the wire, hints ----

TEST_F(IdentityTest, EveryCallCarriesTheBearerTokenAndNoUserHeader) {
  Rib({"whoami"}, {{"RIB_TOKEN", kToken}, {"USER", "mallory"}});
  Rib({"quota", "list"}, {{"RIB_TOKEN", kToken}, {"USER", "mallory"}});
  EXPECT_THAT(
      server_.fake().authorizations(),
      ElementsAre(std::string("Bearer ") + kToken, std::string("Bearer ") + kToken));
  EXPECT_THAT(server_.fake().users(), ElementsAre("", ""));
}

TEST_F(IdentityTest, UnauthenticatedHintsAtLoginAndPermissionDeniedShowsTheMessage) {
  server_.fake().SetError(
      "ListSweeps", grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "token revoked"));
  CliResult r = Rib({"sweeps"}, {{"RIB_TOKEN", kToken}});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err,
            "rib: sweeps: UNAUTHENTICATED: token revoked (run `rib login` or set "
            "RIB_TOKEN)\n");
  r = Rib({"sweeps"});
  EXPECT_EQ(r.err,
            "rib: sweeps: UNAUTHENTICATED: token revoked (no token given: run `rib "
            "login` or set RIB_TOKEN)\n");
  server_.fake().SetError(
      "SetQuota",
      grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                   "SetQuota needs role admin; the token of bob has role user"));
  r = Rib({"quota", "set", "carol", "--devices", "2"}, {{"RIB_TOKEN", kToken}});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err,
            "rib: quota set: PERMISSION_DENIED: SetQuota needs role admin; the token of "
            "bob has role user\n");
}

// ---- whoami, token ----

TEST_F(IdentityTest, WhoAmI) {
  CliResult r = Rib({"whoami"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "alice (role admin, token tok-7)\n");
}

v1::TokenInfo Info(const std::string& id, const std::string& user, v1::Role role) {
  v1::TokenInfo info;
  info.set_id(id);
  info.set_user(user);
  info.set_role(role);
  info.set_created_by("alice");
  return info;
}

TEST_F(IdentityTest, TokenCreatePrintsTheTokenAloneOnTheFirstLine) {
  v1::CreateTokenResponse created;
  created.set_token(kToken);
  *created.mutable_info() = Info("tok-9", "w1", v1::ROLE_WORKER);
  server_.fake().SetCreateToken(created);
  CliResult r = Rib({"token", "create", "--user", "w1", "--role", "worker"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, std::string(kToken) + "\n");
  EXPECT_THAT(r.err, HasSubstr("token tok-9 for w1 (role worker)"));
  EXPECT_EQ(server_.fake().last_create_token().user(), "w1");
  EXPECT_EQ(server_.fake().last_create_token().role(), v1::ROLE_WORKER);

  r = Rib({"token", "create", "--user", "w1", "--role", "admin", "-o", "json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.fake().last_create_token().role(), v1::ROLE_ADMIN);
  EXPECT_THAT(r.out, StartsWith("{\n"));
  EXPECT_THAT(r.out, HasSubstr(std::string("\"token\": \"") + kToken + "\""));
  EXPECT_THAT(r.out, HasSubstr("\"id\": \"tok-9\""));
  EXPECT_THAT(r.out, HasSubstr("\"role\": \"worker\""));
  EXPECT_EQ(r.err, "");

  r = Rib({"token", "create", "--user", "w1", "--role", "root"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err,
            "rib: token create: --role: unknown role 'root' (expected user, admin "
            "or worker)\n");
  r = Rib({"token", "create", "--role", "user"});
  EXPECT_EQ(r.err, "rib: token create: --user is required\n");
  r = Rib({"token"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, StartsWith("rib: token: no subcommand given"));
  EXPECT_THAT(server_.fake().calls(), ElementsAre("CreateToken", "CreateToken"));
}

TEST_F(IdentityTest, TokenListAndRevoke) {
  v1::ListTokensResponse tokens;
  *tokens.add_tokens() = Info("tok-1", "alice", v1::ROLE_ADMIN);
  v1::TokenInfo revoked = Info("tok-2", "bob", v1::ROLE_USER);
  revoked.set_revoked(true);
  revoked.set_revoked_by("alice");
  *tokens.add_tokens() = revoked;
  server_.fake().SetTokens(tokens);
  CliResult r = Rib({"token", "list", "--all"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(server_.fake().last_list_tokens().include_revoked());
  EXPECT_EQ(r.out,
            "ID     USER   ROLE   CREATED BY  CREATED  REVOKED\n"
            "tok-1  alice  admin  alice       -        -\n"
            "tok-2  bob    user   alice       -        - by alice\n");
  r = Rib({"token", "list", "-o", "json"});
  EXPECT_FALSE(server_.fake().last_list_tokens().include_revoked());
  EXPECT_THAT(r.out, StartsWith("[\n"));
  EXPECT_THAT(r.out, HasSubstr("\"id\": \"tok-2\""));
  EXPECT_THAT(r.out, HasSubstr("\"revoked\": true"));

  r = Rib({"token", "revoke", "tok-2"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.fake().last_revoked(), "tok-2");
  EXPECT_EQ(r.out, "revoked token tok-2 of bob (role user)\n");
}

// ---- quota ----

TEST_F(IdentityTest, QuotaSetSendsDevicesOrUnlimited) {
  CliResult r = Rib({"quota", "set", "bob", "--devices", "4"});
  EXPECT_EQ(r.code, 0) << r.err;
  v1::SetQuotaRequest sent = server_.fake().last_set_quota();
  EXPECT_EQ(sent.user(), "bob");
  EXPECT_EQ(sent.devices(), 4);
  EXPECT_FALSE(sent.unlimited());
  EXPECT_EQ(r.out, "quota of bob: 4 devices (2 in use)\n");

  r = Rib({"quota", "set", "bob", "--devices", "unlimited"});
  EXPECT_EQ(r.code, 0) << r.err;
  sent = server_.fake().last_set_quota();
  EXPECT_TRUE(sent.unlimited());
  EXPECT_EQ(sent.devices(), 0);
  EXPECT_EQ(r.out, "quota of bob: unlimited (2 in use)\n");

  r = Rib({"quota", "set", "bob", "--devices", "-1"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err,
            "rib: quota set: --devices: expected a number of devices (0 or more) "
            "or 'unlimited', got '-1'\n");
  r = Rib({"quota", "set", "bob"});
  EXPECT_EQ(r.err, "rib: quota set: --devices is required\n");
  EXPECT_THAT(server_.fake().calls(), ElementsAre("SetQuota", "SetQuota"));
}

TEST_F(IdentityTest, QuotaList) {
  CliResult r = Rib({"quota", "list"});
  EXPECT_EQ(r.out, "no quotas (every user is unlimited)\n");
  v1::ListQuotasResponse quotas;
  v1::Quota* q = quotas.add_quotas();
  q->set_user("bob");
  q->set_devices(4);
  q->set_devices_in_use(3);
  q = quotas.add_quotas();
  q->set_user("carol");
  q->set_unlimited(true);
  q->set_devices_in_use(8);
  server_.fake().SetQuotas(quotas);
  r = Rib({"quota", "list"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "USER   DEVICES    IN USE\n"
            "bob    4          3\n"
            "carol  unlimited  8\n");
}

// ---- undrain, priority, cancelled by ----

TEST_F(IdentityTest, UndrainAndPriority) {
  CliResult r = Rib({"undrain", "w-3"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.fake().last_worker_id(), "w-3");
  EXPECT_EQ(r.out, "worker w-3: active, 4 devices free\n");

  r = Rib({"priority", "sw-1", "7"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.fake().last_priority().sweep_id(), "sw-1");
  EXPECT_EQ(server_.fake().last_priority().priority(), 7);
  EXPECT_EQ(r.out, "sweep sw-1: priority 7\n");
  r = Rib({"priority", "sw-1", "-5"});  // a negative number is a value, not a flag
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.fake().last_priority().priority(), -5);
  r = Rib({"priority", "sw-1", "high"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_EQ(r.err, "rib: priority: priority: 'high' is not a whole number\n");
  EXPECT_THAT(server_.fake().calls(),
              ElementsAre("UndrainWorker", "SetSweepPriority", "SetSweepPriority"));
}

TEST_F(IdentityTest, StatusAndWatchSayWhoCancelled) {
  v1::Sweep sweep;
  sweep.set_id("sw-1");
  sweep.set_owner("alice");
  sweep.set_state(v1::SWEEP_STATE_CANCELLED);
  sweep.set_cancelled_by("bob");
  server_.fake().SetSweep(sweep);
  CliResult r = Rib({"status", "sw-1"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\ncancelled by bob\n"));
  sweep.clear_cancelled_by();
  server_.fake().SetSweep(sweep);
  r = Rib({"status", "sw-1"});
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("cancelled by")));

  v1::SweepEvent running;
  running.set_sweep_id("sw-1");
  running.set_job_id("a");
  running.set_job_label("vit/ft/a");
  running.set_state(v1::JOB_STATE_RUNNING);
  v1::SweepEvent cancelled = running;
  cancelled.set_state(v1::JOB_STATE_CANCELLED);
  cancelled.set_actor("bob");
  v1::SweepEvent end;
  end.set_sweep_id("sw-1");
  end.set_sweep_state(v1::SWEEP_STATE_CANCELLED);
  end.set_actor("bob");
  server_.fake().SetEvents({running, cancelled, end});
  r = Rib({"watch", "sw-1"});
  EXPECT_EQ(r.code, kExitSweepFailed);
  EXPECT_THAT(r.out, HasSubstr("vit/ft/a: cancelled by bob\n"));
  EXPECT_THAT(r.out, HasSubstr("sweep sw-1 cancelled by bob (1 cancelled)\n"));
  EXPECT_EQ(r.err, "rib: watch: sweep sw-1 ended cancelled by bob\n");
}

}  // namespace
}  // namespace rib::client
