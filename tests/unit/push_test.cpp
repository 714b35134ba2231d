#include <doctest/doctest.h>

#include <fcntl.h>

#include <map>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shared/convert/converter.hpp"
#include "shared/convert/flatten_layer.hpp"
#include "shared/convert/layer_reader.hpp"
#include "shared/core/temp_dir.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/image/digest.hpp"
#include "shared/image/manifest.hpp"
#include "shared/image/metadata.hpp"
#include "shared/push/push.hpp"
#include "shared/registry/auth.hpp"
#include "tests/unit/tar_builder.hpp"

using namespace berth;
using namespace berth::convert;
using berth::test::TarBuilder;

TEST_CASE("source.json keeps a pulled manifest byte for byte -- without one it has no such keys") {
  image::ImageSource source;
  source.reference = "r.example/a:1";
  source.digest = "sha256:" + std::string(64, 'a');
  source.manifest = "{\"schemaVersion\":2,  \"x\":\"\\u00e9\"}\n";
  source.manifestMediaType = "application/vnd.oci.image.manifest.v1+json";
  auto back = image::parseImageSource(image::serializeImageSource(source));
  REQUIRE(back.ok());
  CHECK(back->manifest == source.manifest);
  CHECK(back->manifestMediaType == source.manifestMediaType);
  source.manifest.clear();
  CHECK(image::serializeImageSource(source).find("manifest") == std::string::npos);
}

TEST_CASE("push: a flattened config keeps the config object and platform verbatim") {
  std::string original = R"({"architecture":"arm64","os":"linux","variant":"v8",
    "created":"2020-01-01T00:00:00Z","author":"me",
    "config":{"Env":["A=1","B=two words"],"Entrypoint":["/e"],"Cmd":["c"],"WorkingDir":"/w",
              "User":"1:2","Labels":{"k":"v \"q\""},"StopSignal":"SIGINT"},
    "rootfs":{"type":"layers","diff_ids":["sha256:1","sha256:2"]},
    "history":[{"created_by":"one"},{"created_by":"two"}],"container_config":{"Cmd":["x"]}})";
  auto config = push::flattenedConfig(original, "sha256:abc", "2024-05-06T07:08:09Z", "linux/amd64",
                                      "berth push");
  REQUIRE(config.ok());
  auto doc = nlohmann::json::parse(*config);
  auto old = nlohmann::json::parse(original);
  CHECK(doc["config"] == old["config"]);
  CHECK(doc["architecture"] == "arm64");
  CHECK(doc["variant"] == "v8");
  CHECK(doc["author"] == "me");
  CHECK(doc["created"] == "2024-05-06T07:08:09Z");
  CHECK(doc["rootfs"]["diff_ids"] == nlohmann::json::array({"sha256:abc"}));
  REQUIRE(doc["history"].size() == 1);
  CHECK(doc["history"][0]["created_by"] == "berth push");
  CHECK_FALSE(doc.contains("container_config"));

  auto bare = push::flattenedConfig("", "sha256:abc", "t", "linux/amd64", "b");
  REQUIRE(bare.ok());
  auto b = nlohmann::json::parse(*bare);
  CHECK(b["os"] == "linux");
  CHECK(b["architecture"] == "amd64");
  CHECK(b["config"].is_object());
  CHECK_FALSE(push::flattenedConfig("[1]", "sha256:abc", "t", "linux/amd64", "b").ok());
}

TEST_CASE("push: the one-layer manifest is an OCI manifest berth itself reads") {
  image::Descriptor config;
  config.mediaType = "application/vnd.oci.image.config.v1+json";
  config.digest = "sha256:" + std::string(64, 'c');
  config.size = 12;
  image::Descriptor layer;
  layer.mediaType = "application/vnd.oci.image.layer.v1.tar+zstd";
  layer.digest = "sha256:" + std::string(64, 'd');
  layer.size = 3456;
  std::string manifest = push::oneLayerManifest(config, layer);
  CHECK(manifest.starts_with(R"({"schemaVersion":2,"mediaType":)"));
  auto doc = image::parseManifestDocument(manifest, "");
  REQUIRE(doc.ok());
  CHECK(doc->kind == image::MediaKind::kManifest);
  CHECK(doc->config.digest == config.digest);
  REQUIRE(doc->layers.size() == 1);
  CHECK(doc->layers[0].size == 3456);
  CHECK(doc->layers[0].mediaType == layer.mediaType);
}

TEST_CASE("token URL: a push asks for pull,push and the mount source's pull in one token") {
  registry::AuthChallenge challenge{
      "bearer", {{"realm", "https://auth.example/token"}, {"service", "registry.example"}}};
  auto url = registry::tokenUrl(challenge, std::vector<std::string>{"repository:me/app:pull,push",
                                                                    "repository:lib/base:pull"});
  REQUIRE(url.ok());
  CHECK(*url ==
        "https://auth.example/token?service=registry.example"
        "&scope=repository%3Ame%2Fapp%3Apull%2Cpush&scope=repository%3Alib%2Fbase%3Apull");
  auto pull = registry::tokenUrl(challenge, "me/app");
  REQUIRE(pull.ok());
  CHECK(pull->ends_with("&scope=repository%3Ame%2Fapp%3Apull"));
}

namespace {

struct Entry {
  LayerEntry entry;
  std::string content;
};

std::map<std::string, Entry> readLayer(const std::filesystem::path& blob) {
  auto reader = LayerReader::openFile(blob);
  REQUIRE(reader.ok());
  std::map<std::string, Entry> out;
  while (true) {
    auto entry = reader->next();
    REQUIRE(entry.ok());
    if (!*entry)
      break;
    Entry seen{**entry, ""};
    char buf[4096];
    while (true) {
      auto n = reader->read(buf, sizeof buf);
      REQUIRE(n.ok());
      if (*n == 0)
        break;
      seen.content.append(buf, *n);
    }
    out[seen.entry.path] = seen;
  }
  return out;
}

}  // namespace

TEST_CASE("flatten: a squashfs becomes one layer with owners, modes, links and xattrs") {
  auto dir = TempDir::create("/tmp", "berth-flatten-test");
  REQUIRE(dir.ok());
  const auto& d = dir->path();
  std::string big(3 << 20, '\0');  // several gzip blocks, several squashfs blocks
  for (size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>((i * 7919) >> 7);
  TarBuilder layer;
  layer.dir("usr", 0755)
      .dir("usr/bin", 0755)
      .file("usr/bin/big", big, 04755)
      .hardlink("usr/bin/big2", "usr/bin/big")
      .file("etc/owned", "mine", 0600, 1000, 2000)
      .symlink("usr/bin/sh", "/bin/busybox")
      .xattrFile("etc/x", "x", "user.tag", "value")
      .dir("tmp", 01777)
      .file(".berth/runscript", "#!/bin/sh\n", 0755)
      .file("empty", "");
  layer.writeTo(d / "l0.tar");
  std::filesystem::path image = d / "image.sqsh";
  auto converted = convertLayers(
      {{d / "l0.tar", "", "", {}}},
      {fmt::format(
           R"({{"config":{{"Env":["A=1"]}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}})",
           *image::sha256Digest(layer.bytes())),
       R"({"reference":"x"})"},
      image, ConvertOptions{}, Logger());
  REQUIRE_MESSAGE(converted.ok(), converted.error().message());

  for (auto compression : {image::Compression::kGzip, image::Compression::kZstd}) {
    std::filesystem::path blob = d / "layer";
    UniqueFd fd(::open(blob.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    REQUIRE(fd);
    FlattenOptions options;
    options.compress.compression = compression;
    options.compress.threads = 3;
    options.exclude = {".berth/config.json", ".berth/source.json"};
    auto flat = flattenSquashfs(image, fd.get(), options, Logger());
    REQUIRE_MESSAGE(flat.ok(), flat.error().message());
    fd.reset();
    CHECK(*image::sha256File(blob.string()) == flat->blob.digest);
    CHECK(flat->stats.hardLinks == 1);
    CHECK(flat->stats.xattrs == 1);
    // The diff_id is the sha256 of the tar stream the blob decompresses to.
    LayerDigests expected;
    expected.diffId = flat->blob.diffId;
    expected.blob = flat->blob.digest;
    auto verified = LayerReader::openFile(blob, expected);
    REQUIRE(verified.ok());
    while (true) {
      auto e = verified->next();
      REQUIRE_MESSAGE(e.ok(), e.error().message());
      if (!*e)
        break;
    }

    auto tree = readLayer(blob);
    REQUIRE(tree.count("usr/bin/big") == 1);
    CHECK(tree["usr/bin/big"].content == big);
    CHECK(tree["usr/bin/big"].entry.mode == 04755);
    CHECK(tree["usr/bin/big2"].entry.type == EntryType::kHardlink);
    CHECK(tree["usr/bin/big2"].entry.linkTarget == "usr/bin/big");
    CHECK(tree["usr/bin/sh"].entry.linkTarget == "/bin/busybox");
    CHECK(tree["etc/owned"].entry.uid == 1000);
    CHECK(tree["etc/owned"].entry.gid == 2000);
    CHECK(tree["etc/owned"].entry.mode == 0600);
    CHECK(tree["etc/owned"].content == "mine");
    REQUIRE(tree["etc/x"].entry.xattrs.size() == 1);
    CHECK(tree["etc/x"].entry.xattrs[0].first == "user.tag");
    CHECK(tree["etc/x"].entry.xattrs[0].second == "value");
    CHECK(tree["tmp"].entry.mode == 01777);
    CHECK(tree[".berth/runscript"].content == "#!/bin/sh\n");
    CHECK(tree.count(".berth/config.json") == 0);
    CHECK(tree.count(".berth/source.json") == 0);
    CHECK(tree.count("empty") == 1);
    CHECK(tree.count("") == 1);  // "./": the root's owner and mode
  }
}

TEST_CASE("flatten: the same image gives the same layer, whatever the thread count") {
  auto dir = TempDir::create("/tmp", "berth-flatten-test");
  REQUIRE(dir.ok());
  const auto& d = dir->path();
  std::string data(5 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>((i * 2654435761u) >> 13);
  TarBuilder layer;
  layer.file("a", data).file("b", data.substr(1000)).file("c", "small");
  layer.writeTo(d / "l0.tar");
  auto converted =
      convertLayers({{d / "l0.tar", "", "", {}}}, {}, d / "image.sqsh", ConvertOptions{}, Logger());
  REQUIRE(converted.ok());
  std::string first;
  for (unsigned threads : {1u, 2u, 5u}) {
    std::filesystem::path blob = d / fmt::format("layer{}", threads);
    UniqueFd fd(::open(blob.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    REQUIRE(fd);
    FlattenOptions options;
    options.compress.threads = threads;
    auto flat = flattenSquashfs(d / "image.sqsh", fd.get(), options, Logger());
    REQUIRE(flat.ok());
    if (first.empty())
      first = flat->blob.digest;
    CHECK(flat->blob.digest == first);
    auto gunzip = std::system(fmt::format("gzip -t '{}'", blob.string()).c_str());
    CHECK(gunzip == 0);
  }
}
