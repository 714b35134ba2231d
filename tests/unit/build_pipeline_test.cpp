// The builder's pure pieces: the built image's config and manifest, owners from an image's user
// database, the build cache's entries, the scratch directory's filesystem check.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "shared/build/build_cache.hpp"
#include "shared/build/build_scratch.hpp"
#include "shared/build/built_config.hpp"
#include "shared/build/step_container.hpp"
#include "shared/core/temp_dir.hpp"

using namespace berth::build;
namespace fs = std::filesystem;
using nlohmann::json;

TEST_CASE("built config: the base's config with the stage's settings and layers appended") {
  std::string base = R"({"architecture":"amd64","os":"linux","created":"2020-01-01T00:00:00Z",
    "config":{"Env":["PATH=/usr/bin"],"Cmd":["bash"],"Hostname":"kept"},
    "rootfs":{"type":"layers","diff_ids":["sha256:aa"]},
    "history":[{"created":"2020-01-01T00:00:00Z","created_by":"base"}]})";
  auto parsed = baseConfigFromOci(base);
  REQUIRE(parsed.ok());
  CHECK(parsed->config.env.size() == 1);
  REQUIRE(parsed->config.cmd.has_value());
  CHECK(parsed->config.cmd->front() == "bash");

  BuiltConfigInput input;
  input.baseConfigJson = base;
  input.config = parsed->config;
  input.config.env.emplace_back("A", "1");
  input.config.entrypoint = std::vector<std::string>{"cowsay"};
  input.config.cmd.reset();
  input.config.labels["l"] = "v";
  input.config.user = "4321";
  input.diffIds = {"sha256:bb"};
  input.history = {{"2024-01-01T00:00:00Z", "COPY x /x", false},
                   {"2024-01-01T00:00:00Z", "ENV A=1", true}};
  input.created = "2024-01-01T00:00:00Z";
  input.platform = "linux/amd64";
  auto text = builtConfigJson(input);
  REQUIRE(text.ok());
  json doc = json::parse(*text);
  CHECK(doc["config"]["Env"] == json({"PATH=/usr/bin", "A=1"}));
  CHECK(doc["config"]["Entrypoint"] == json({"cowsay"}));
  CHECK_FALSE(doc["config"].contains("Cmd"));
  CHECK(doc["config"]["Hostname"] == "kept");
  CHECK(doc["config"]["User"] == "4321");
  CHECK(doc["config"]["Labels"]["l"] == "v");
  CHECK(doc["rootfs"]["diff_ids"] == json({"sha256:aa", "sha256:bb"}));
  REQUIRE(doc["history"].size() == 3);
  CHECK(doc["history"][2]["empty_layer"] == true);
  CHECK_FALSE(doc["history"][1].contains("empty_layer"));
  CHECK(doc["created"] == "2024-01-01T00:00:00Z");
  // The same input gives the same bytes (the image's name depends on them).
  CHECK(*builtConfigJson(input) == *text);

  BuiltConfigInput scratch;
  scratch.platform = "linux/arm64/v8";
  scratch.created = "2024-01-01T00:00:00Z";
  json fromScratch = json::parse(*builtConfigJson(scratch));
  CHECK(fromScratch["architecture"] == "arm64");
  CHECK(fromScratch["variant"] == "v8");
  CHECK(fromScratch["rootfs"]["diff_ids"].empty());
}

TEST_CASE("built manifest: OCI, the config and layers in order") {
  berth::image::Descriptor config{kOciConfigType, "sha256:cc", 10, {}, {}};
  std::vector<berth::image::Descriptor> layers = {
      {"application/vnd.docker.image.rootfs.diff.tar.gzip", "sha256:l1", 100, {}, {}},
      {kOciLayerGzipType, "sha256:l2", 200, {}, {}}};
  json doc = json::parse(builtManifestJson(config, layers));
  CHECK(doc["schemaVersion"] == 2);
  CHECK(doc["mediaType"] == kOciManifestType);
  CHECK(doc["config"]["digest"] == "sha256:cc");
  REQUIRE(doc["layers"].size() == 2);
  CHECK(doc["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip");
  CHECK(doc["layers"][1]["size"] == 200);
  CHECK(rfc3339(1700000000) == "2023-11-14T22:13:20Z");
}

TEST_CASE("image owners: names and numbers from the image's passwd and group") {
  std::string passwd = "root:x:0:0::/root:/bin/sh\nbuilder:x:4321:4300::/home/b:/bin/sh\n";
  std::string group = "root:x:0:\nstaff:x:50:\nbuilders:x:4300:\n";
  auto named = resolveImageOwner("builder", passwd, group);
  REQUIRE(named.ok());
  CHECK(named->uid == 4321);
  CHECK(named->gid == 4300);
  auto withGroup = resolveImageOwner("builder:staff", passwd, group);
  REQUIRE(withGroup.ok());
  CHECK(withGroup->gid == 50);
  auto numeric = resolveImageOwner("4321", passwd, group);
  REQUIRE(numeric.ok());
  CHECK(numeric->gid == 4300);  // its passwd entry's group
  auto unknownUid = resolveImageOwner("77:88", passwd, group);
  REQUIRE(unknownUid.ok());
  CHECK(unknownUid->uid == 77);
  CHECK(unknownUid->gid == 88);
  CHECK(resolveImageOwner("nobody", passwd, group).error().message().find("not in the image") !=
        std::string::npos);
  CHECK_FALSE(resolveImageOwner("builder:nogroup", passwd, group).ok());
}

TEST_CASE("build cache: an entry is a hit only while its blob is there") {
  auto dir = berth::TempDir::create("/tmp", "berth-build-cache-test");
  REQUIRE(dir.ok());
  BuildCache cache(dir->path());
  std::string key = "sha256:" + std::string(64, 'a');
  CHECK_FALSE(cache.find(key)->has_value());
  fs::path layer = dir->path() / "layer.tar.gz";
  std::ofstream(layer) << "layer bytes";
  StepCacheEntry entry{"sha256:" + std::string(64, 'b'), "sha256:" + std::string(64, 'c'), 11,
                       "2024-01-01T00:00:00Z"};
  REQUIRE(cache.store(key, entry, layer).ok());
  auto found = cache.find(key);
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->diffId == entry.diffId);
  CHECK((*found)->created == entry.created);
  CHECK(fs::exists(cache.blobPath(entry.blob)));
  CHECK_FALSE(cache.find("sha256:short").ok());
  // gc removed the blob: a miss, and the entry goes at the next prune.
  fs::remove(cache.blobPath(entry.blob));
  CHECK_FALSE(cache.find(key)->has_value());
  auto pruned = pruneBuildCache(dir->path());
  REQUIRE(pruned.ok());
  CHECK(*pruned == 1);
  CHECK(fs::is_empty(dir->path() / "build"));
}

TEST_CASE("build scratch: local directories accepted, the scratch removed with its owner") {
  auto kind = networkFilesystemOf("/tmp");
  REQUIRE(kind.ok());
  CHECK(kind->empty());
  CHECK_FALSE(networkFilesystemOf("/does/not/exist").ok());
  fs::path made;
  {
    auto scratch = makeBuildScratch("/tmp");
    REQUIRE(scratch.ok());
    made = scratch->path();
    CHECK(made.filename().string().starts_with("berth-build."));
    CHECK(fs::is_directory(made));
  }
  CHECK_FALSE(fs::exists(made));
}
