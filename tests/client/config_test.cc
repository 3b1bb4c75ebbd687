// Where `rib` finds its coordinator and token: flag > env > config file > default.
#include "client/config.h"

#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib::client {
namespace {

using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::HasSubstr;

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = dir_.Join("rib.yaml");
    Write(file_, "coordinator: file-host:9000\ntoken: file-token\n");
  }
  ScratchDir dir_;
  std::string file_;
};

TEST_F(ConfigTest, DefaultWhenNothingIsSet) {
  RIB_ASSERT_OK_AND_ASSIGN(ConnectionConfig c, ResolveConnection({}, Env({})));
  EXPECT_EQ(c.coordinator, "127.0.0.1:7070");
  EXPECT_EQ(c.coordinator_source, "default");
  EXPECT_EQ(c.token, "");
}

TEST_F(ConfigTest, FileBeatsDefault) {
  RIB_ASSERT_OK_AND_ASSIGN(ConnectionConfig c,
                           ResolveConnection({}, Env({{"RIB_CONFIG", file_}})));
  EXPECT_EQ(c.coordinator, "file-host:9000");
  EXPECT_EQ(c.token, "file-token");
  EXPECT_EQ(c.coordinator_source, file_);
}

TEST_F(ConfigTest, EnvBeatsFile) {
  RIB_ASSERT_OK_AND_ASSIGN(ConnectionConfig c,
                           ResolveConnection({}, Env({{"RIB_CONFIG", file_},
                                                      {"RIB_COORDINATOR", "env-host:1"},
                                                      {"RIB_TOKEN", "env-token"}})));
  EXPECT_EQ(c.coordinator, "env-host:1");
  EXPECT_EQ(c.token, "env-token");
  EXPECT_EQ(c.token_source, "env");
}

TEST_F(ConfigTest, FlagBeatsEnv) {
  RIB_ASSERT_OK_AND_ASSIGN(
      ConnectionConfig c,
      ResolveConnection({std::string("flag-host:2"), std::string("flag-token")},
                        Env({{"RIB_CONFIG", file_},
                             {"RIB_COORDINATOR", "env-host:1"},
                             {"RIB_TOKEN", "env-token"}})));
  EXPECT_EQ(c.coordinator, "flag-host:2");
  EXPECT_EQ(c.token, "flag-token");
  EXPECT_EQ(c.coordinator_source, "flag");
}

TEST_F(ConfigTest, EachSettingResolvedSeparately) {
  // Address from the flag, token from the file.
  RIB_ASSERT_OK_AND_ASSIGN(
      ConnectionConfig c,
      ResolveConnection({std::string("flag-host:2")}, Env({{"RIB_CONFIG", file_}})));
  EXPECT_EQ(c.coordinator, "flag-host:2");
  EXPECT_EQ(c.token, "file-token");
  // An empty variable counts as unset.
  RIB_ASSERT_OK_AND_ASSIGN(
      c, ResolveConnection({}, Env({{"RIB_CONFIG", file_}, {"RIB_COORDINATOR", ""}})));
  EXPECT_EQ(c.coordinator, "file-host:9000");
}

TEST_F(ConfigTest, HomeConfigFileUsedAndOptional) {
  RIB_ASSERT_OK_AND_ASSIGN(ConnectionConfig c,
                           ResolveConnection({}, Env({{"HOME", dir_.path()}})));
  EXPECT_EQ(c.coordinator, "127.0.0.1:7070");  // no ~/.config/rib/config.yaml: default

  std::string cfg_dir = dir_.Join(".config/rib");
  ASSERT_EQ(system(("mkdir -p " + cfg_dir).c_str()), 0);
  Write(cfg_dir + "/config.yaml", "coordinator: home-host:7\n");
  RIB_ASSERT_OK_AND_ASSIGN(c, ResolveConnection({}, Env({{"HOME", dir_.path()}})));
  EXPECT_EQ(c.coordinator, "home-host:7");
  EXPECT_EQ(c.token, "");
}

TEST_F(ConfigTest, BadConfigFilesAreNamed) {
  EXPECT_THAT(ResolveConnection({}, Env({{"RIB_CONFIG", dir_.Join("missing.yaml")}})),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.yaml")));
  Write(file_, "- a\n- b\n");
  EXPECT_THAT(ResolveConnection({}, Env({{"RIB_CONFIG", file_}})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rib.yaml")));
  Write(file_, "coordinator:\n  nested: 1\n");
  EXPECT_THAT(
      ResolveConnection({}, Env({{"RIB_CONFIG", file_}})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("rib.yaml:2: `coordinator` must be a non-empty string")));
  // A broken file does not matter when flags name everything (an empty --tls-ca:
  // plaintext).
  EXPECT_TRUE(ResolveConnection({std::string("h:1"), std::string("t"), std::string(),
                                 std::string(), std::string()},
                                Env({{"RIB_CONFIG", file_}}))
                  .ok());
}

TEST_F(ConfigTest, TlsFilesFollowTheSamePrecedence) {
  // Nothing set: plaintext.
  RIB_ASSERT_OK_AND_ASSIGN(ConnectionConfig c, ResolveConnection({}, Env({})));
  EXPECT_EQ(c.tls_ca, "");
  EXPECT_EQ(c.tls_ca_source, "default");
  // The config file's paths are relative to its folder.
  Write(file_,
        "coordinator: h:1\ntls_ca: certs/ca.pem\ntls_cert: /abs/client.pem\n"
        "tls_key: client.key\n");
  RIB_ASSERT_OK_AND_ASSIGN(c, ResolveConnection({}, Env({{"RIB_CONFIG", file_}})));
  EXPECT_EQ(c.tls_ca, dir_.Join("certs/ca.pem"));
  EXPECT_EQ(c.tls_ca_source, file_);
  EXPECT_EQ(c.tls_cert, "/abs/client.pem");
  EXPECT_EQ(c.tls_key, dir_.Join("client.key"));
  // The environment beats the file, and a flag beats both.
  RIB_ASSERT_OK_AND_ASSIGN(c, ResolveConnection({}, Env({{"RIB_CONFIG", file_},
                                                         {"RIB_TLS_CA", "env-ca.pem"},
                                                         {"RIB_TLS_KEY", "env.key"}})));
  EXPECT_EQ(c.tls_ca, "env-ca.pem");
  EXPECT_EQ(c.tls_ca_source, "env");
  EXPECT_EQ(c.tls_key, "env.key");
  ConnectionFlags flags;
  flags.tls_ca = "flag-ca.pem";
  RIB_ASSERT_OK_AND_ASSIGN(
      c,
      ResolveConnection(flags, Env({{"RIB_CONFIG", file_}, {"RIB_TLS_CA", "env.pem"}})));
  EXPECT_EQ(c.tls_ca, "flag-ca.pem");
  EXPECT_EQ(c.tls_ca_source, "flag");
  EXPECT_EQ(c.tls_cert, "/abs/client.pem");
}

}  // namespace
}  // namespace rib::client
