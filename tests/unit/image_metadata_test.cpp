#include <doctest/doctest.h>

#include "shared/image/metadata.hpp"

using namespace berth::image;

TEST_CASE("image config: the fields berth uses are read from an OCI config") {
  auto config = parseImageConfig(R"({
    "architecture": "arm64", "os": "linux", "variant": "v8",
    "config": {"Env": ["PATH=/usr/bin", "A=b=c"], "Entrypoint": ["/bin/sh", "-c"],
               "Cmd": ["echo hi"], "WorkingDir": "/work", "User": "1000:1000",
               "Labels": {"org.opencontainers.image.title": "t"}},
    "rootfs": {"type": "layers", "diff_ids": []}, "history": []})");
  REQUIRE(config.ok());
  CHECK(config->env == std::vector<std::string>{"PATH=/usr/bin", "A=b=c"});
  CHECK(config->entrypoint == std::vector<std::string>{"/bin/sh", "-c"});
  CHECK(config->cmd == std::vector<std::string>{"echo hi"});
  CHECK(config->workingDir == "/work");
  CHECK(config->user == "1000:1000");
  CHECK(config->labels.at("org.opencontainers.image.title") == "t");
  CHECK(platformString(*config) == "linux/arm64/v8");
}

TEST_CASE("image config: null and missing fields are empty, wrong types are errors") {
  auto config = parseImageConfig(R"({"architecture":"amd64","os":"linux","config":{"Cmd":null}})");
  REQUIRE(config.ok());
  CHECK(config->cmd.empty());
  CHECK(config->entrypoint.empty());

  auto wrong = parseImageConfig(R"({"config":{"Env":"PATH=/bin"}})");
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().message() == "image config: field `Env` has the wrong type (string)");
  CHECK_FALSE(parseImageConfig("{not json").ok());
  CHECK_FALSE(parseImageConfig("[]").ok());
}

TEST_CASE("image config and source survive a round trip") {
  ImageConfig config;
  config.architecture = "amd64";
  config.os = "linux";
  config.env = {"X=1"};
  config.cmd = {"/bin/true"};
  config.labels = {{"k", "v"}};
  auto back = parseImageConfig(serializeImageConfig(config));
  REQUIRE(back.ok());
  CHECK(back->env == config.env);
  CHECK(back->cmd == config.cmd);
  CHECK(back->labels == config.labels);

  ImageSource source{"docker.io/library/ubuntu:22.04",
                     "sha256:abc",
                     "linux/amd64",
                     "2026-11-29T00:00:00Z",
                     "berth 0.1.0",
                     "",
                     ""};
  auto parsed = parseImageSource(serializeImageSource(source));
  REQUIRE(parsed.ok());
  CHECK(parsed->reference == source.reference);
  CHECK(parsed->digest == source.digest);
  CHECK(parsed->created == source.created);
}

TEST_CASE("host platform is an OCI platform string") {
  std::string platform = hostPlatform();
  CHECK(platform.rfind("linux/", 0) == 0);
#if defined(__x86_64__)
  CHECK(platform == "linux/amd64");
#endif
}
