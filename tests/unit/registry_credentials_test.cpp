#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>
#include <map>

#include "shared/core/temp_dir.hpp"
#include "shared/registry/credentials.hpp"

using namespace berth::registry;

namespace {

EnvLookup fakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end())
      return std::nullopt;
    return it->second;
  };
}

mode_t modeOf(const std::filesystem::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("docker config.json: auths with base64 auth, username/password and identity tokens") {
  auto entries = parseDockerConfig(R"({
    "auths": {
      "https://index.docker.io/v1/": {"auth": "dXNlcjpwYTpzcw=="},
      "ghcr.io": {"username": "u2", "password": "p2"},
      "registry.example:5000": {"identitytoken": "tok"},
      "broken.example": {"auth": "!!!"},
      "empty.example": {}
    },
    "credsStore": "desktop"})");
  REQUIRE(entries.ok());
  CHECK(entries->size() == 3);
  CHECK(entries->at("docker.io").username == "user");
  CHECK(entries->at("docker.io").password == "pa:ss");
  CHECK(entries->at("ghcr.io").password == "p2");
  CHECK(entries->at("registry.example:5000").password == "tok");
  CHECK(parseDockerConfig("{}")->empty());
  CHECK_FALSE(parseDockerConfig("not json").ok());
  CHECK(credentialEnvSuffix("127.0.0.1:5000") == "127_0_0_1_5000");
  CHECK(credentialEnvSuffix("ghcr.io") == "GHCR_IO");
}

TEST_CASE("credentials: lookup order env per registry, env, berth login, docker config") {
  auto dir = berth::TempDir::create("/tmp", "berth-cred-test");
  REQUIRE(dir.ok());
  auto dockerConfig = dir->path() / "docker.json";
  std::ofstream(dockerConfig) << R"({"auths":{"ghcr.io":{"auth":"ZDpkcA=="},
                                               "quay.io":{"auth":"ZDpkcA=="}}})";
  auto configDir = dir->path() / "cfg" / "berth";

  CredentialStore none(fakeEnv({}), configDir, dockerConfig);
  REQUIRE(none.store("quay.io", "login", "lpw").ok());
  CHECK(none.lookup("ghcr.io")->value().username == "d");
  CHECK(none.lookup("ghcr.io")->value().source == "docker config");
  CHECK(none.lookup("quay.io")->value().username == "login");
  CHECK(none.lookup("quay.io")->value().source == "berth login");
  CHECK_FALSE(none.lookup("docker.io")->has_value());

  CredentialStore env(fakeEnv({{"BERTH_REGISTRY_USER", "e"},
                               {"BERTH_REGISTRY_PASSWORD", "ep"},
                               {"BERTH_REGISTRY_USER_GHCR_IO", "g"},
                               {"BERTH_REGISTRY_PASSWORD_GHCR_IO", "gp"}}),
                      configDir, dockerConfig);
  CHECK(env.lookup("ghcr.io")->value().username == "g");
  CHECK(env.lookup("quay.io")->value().username == "e");
  CHECK(env.lookup("docker.io")->value().password == "ep");

  CredentialStore limited(
      fakeEnv({{"BERTH_REGISTRY_USER", "e"},
               {"BERTH_REGISTRY_PASSWORD", "ep"},
               {"BERTH_REGISTRY_AUTH_HOSTS", "example.com, https://index.docker.io/v1/"}}),
      configDir, dockerConfig);
  CHECK(limited.lookup("docker.io")->value().username == "e");
  CHECK(limited.lookup("quay.io")->value().username == "login");  // not listed: next source
}

TEST_CASE("berth login storage: 0600 file in a 0700 directory, replace and remove") {
  auto dir = berth::TempDir::create("/tmp", "berth-cred-test");
  REQUIRE(dir.ok());
  auto configDir = dir->path() / "xdg" / "berth";
  CredentialStore store(fakeEnv({}), configDir, {});
  REQUIRE(store.store("127.0.0.1:5000", "alice", "secret1").ok());
  REQUIRE(store.store("127.0.0.1:5000", "alice", "secret2").ok());
  REQUIRE(store.store("ghcr.io", "bob", "pw").ok());
  CHECK(modeOf(configDir) == 0700);
  CHECK(modeOf(store.loginFile()) == 0600);
  CHECK(store.lookup("127.0.0.1:5000")->value().password == "secret2");
  // The file holds base64 only: the password is not there in clear text.
  std::ifstream in(store.loginFile());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text.find("secret2") == std::string::npos);
  CHECK(text.find("\"auths\"") != std::string::npos);

  CHECK(*store.remove("127.0.0.1:5000"));
  CHECK_FALSE(*store.remove("127.0.0.1:5000"));
  CHECK_FALSE(store.lookup("127.0.0.1:5000")->has_value());
  CHECK(store.lookup("ghcr.io")->value().username == "bob");
  CHECK_FALSE(store.store("x.io", "a:b", "pw").ok());
  CHECK_FALSE(store.store("x.io", "a", "").ok());

  std::ofstream(store.loginFile()) << "garbage";
  auto broken = store.lookup("ghcr.io");
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.error().message().find("credentials file") != std::string::npos);
}

TEST_CASE("default locations follow XDG, HOME and DOCKER_CONFIG") {
  CHECK(defaultUserConfigDir(fakeEnv({{"XDG_CONFIG_HOME", "/x"}, {"HOME", "/h"}})) == "/x/berth");
  CHECK(defaultUserConfigDir(fakeEnv({{"HOME", "/h"}})) == "/h/.config/berth");
  CHECK(defaultUserConfigDir(fakeEnv({})).empty());
  CHECK(defaultDockerConfigPath(fakeEnv({{"DOCKER_CONFIG", "/d"}, {"HOME", "/h"}})) ==
        "/d/config.json");
  CHECK(defaultDockerConfigPath(fakeEnv({{"HOME", "/h"}})) == "/h/.docker/config.json");
}

TEST_CASE("credentials: a reference's USER@ picks that user's entry, or fails") {
  auto dir = berth::TempDir::create("/tmp", "berth-cred-user");
  REQUIRE(dir.ok());
  auto dockerConfig = dir->path() / "docker.json";
  // d:dp for nvcr.io in Docker's config; berth login holds $oauthtoken's key.
  std::ofstream(dockerConfig) << R"({"auths":{"nvcr.io":{"auth":"ZDpkcA=="}}})";
  auto configDir = dir->path() / "cfg" / "berth";
  CredentialStore store(fakeEnv({{"BERTH_REGISTRY_USER", "e"}, {"BERTH_REGISTRY_PASSWORD", "ep"}}),
                        configDir, dockerConfig);
  REQUIRE(store.store("nvcr.io", "$oauthtoken", "key").ok());
  CHECK(store.lookup("nvcr.io")->value().username == "e");  // the first source, any user
  CHECK(store.lookup("nvcr.io", "e")->value().source == "environment");
  auto token = store.lookup("nvcr.io", "$oauthtoken");
  REQUIRE(token.ok());
  CHECK(token->value().password == "key");
  CHECK(token->value().source == "berth login");
  CHECK(store.lookup("nvcr.io", "d")->value().source == "docker config");
  auto missing = store.lookup("nvcr.io", "alice");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message() ==
        "no credentials of user `alice` for nvcr.io (environment, berth login, Docker config)");
  CHECK_FALSE(store.lookup("ghcr.io", "alice").ok());  // never anonymous access instead
}
