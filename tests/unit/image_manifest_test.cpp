#include <doctest/doctest.h>

#include <fmt/format.h>

#include "shared/image/manifest.hpp"

using namespace berth::image;

namespace {

std::string digestOf(char c) {
  return "sha256:" + std::string(64, c);
}

std::string entry(std::string_view platformJson, char digest,
                  std::string_view type = "application/vnd.oci.image.manifest.v1+json") {
  return fmt::format(R"({{"mediaType":"{}","digest":"{}","size":500,"platform":{}}})", type,
                     digestOf(digest), platformJson);
}

std::string index(const std::vector<std::string>& entries) {
  std::string list;
  for (const auto& e : entries)
    list += (list.empty() ? "" : ",") + e;
  return fmt::format(
      R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}})",
      list);
}

Descriptor select(const std::string& doc, std::string_view wanted) {
  auto parsed = parseManifestDocument(doc, "");
  REQUIRE(parsed.ok());
  REQUIRE(parsed->kind == MediaKind::kIndex);
  auto chosen = selectPlatformManifest(parsed->manifests, *parsePlatform(wanted));
  REQUIRE_MESSAGE(chosen.ok(), (chosen.ok() ? "" : chosen.error().message()));
  return *chosen;
}

}  // namespace

TEST_CASE("media types: every row of the table is found and classified") {
  CHECK(findMediaType("application/vnd.oci.image.index.v1+json")->kind == MediaKind::kIndex);
  CHECK(findMediaType("application/vnd.docker.distribution.manifest.list.v2+json")->kind ==
        MediaKind::kIndex);
  CHECK(findMediaType("application/vnd.docker.distribution.manifest.v2+json")->kind ==
        MediaKind::kManifest);
  CHECK(findMediaType("application/vnd.oci.image.manifest.v1+json; charset=utf-8")->kind ==
        MediaKind::kManifest);
  CHECK(*layerCompression("application/vnd.oci.image.layer.v1.tar+zstd") == Compression::kZstd);
  CHECK(*layerCompression("application/vnd.docker.image.rootfs.diff.tar.gzip") ==
        Compression::kGzip);
  CHECK(*layerCompression("application/vnd.oci.image.layer.v1.tar") == Compression::kNone);
  CHECK(findMediaType("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")->foreign);
  CHECK_FALSE(layerCompression("application/vnd.oci.image.config.v1+json").ok());
  CHECK(findMediaType("text/plain") == nullptr);
  // The Accept header lists all four manifest and index types, and nothing else.
  const std::string& accept = manifestAcceptHeader();
  CHECK(accept.find("application/vnd.oci.image.index.v1+json") != std::string::npos);
  CHECK(accept.find("application/vnd.oci.image.manifest.v1+json") != std::string::npos);
  CHECK(accept.find("application/vnd.docker.distribution.manifest.list.v2+json") !=
        std::string::npos);
  CHECK(accept.find("application/vnd.docker.distribution.manifest.v2+json") != std::string::npos);
  CHECK(accept.find("layer") == std::string::npos);
  CHECK(accept.find("v1+prettyjws") == std::string::npos);
}

TEST_CASE("manifests: a Docker schema2 image manifest") {
  std::string doc = fmt::format(R"({{"schemaVersion":2,
    "mediaType":"application/vnd.docker.distribution.manifest.v2+json",
    "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":7,"digest":"{}"}},
    "layers":[
      {{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":10,"digest":"{}"}},
      {{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","size":20,
        "digest":"{}","urls":["https://example.com/l"]}}]}})",
                                digestOf('a'), digestOf('b'), digestOf('c'));
  auto parsed = parseManifestDocument(doc, "");
  REQUIRE(parsed.ok());
  CHECK(parsed->kind == MediaKind::kManifest);
  CHECK(parsed->config.digest == digestOf('a'));
  REQUIRE(parsed->layers.size() == 2);
  CHECK(parsed->layers[0].size == 10);
  CHECK(parsed->layers[1].urls == std::vector<std::string>{"https://example.com/l"});
}

TEST_CASE("manifests: the media type comes from Content-Type or the shape when absent") {
  std::string doc = fmt::format(
      R"({{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":1,"digest":"{}"}},"layers":[]}})",
      digestOf('a'));
  auto parsed = parseManifestDocument(doc, "application/vnd.oci.image.manifest.v1+json");
  REQUIRE(parsed.ok());
  CHECK(parsed->mediaType == "application/vnd.oci.image.manifest.v1+json");
  CHECK(parseManifestDocument(doc, "")->kind == MediaKind::kManifest);
  CHECK(parseManifestDocument(index({}), "")->kind == MediaKind::kIndex);
}

TEST_CASE("manifests: malformed and unsupported documents are clear errors") {
  auto message = [](std::string_view doc) {
    auto parsed = parseManifestDocument(doc, "");
    REQUIRE_FALSE(parsed.ok());
    return parsed.error().message();
  };
  CHECK(message("{") == "malformed manifest: not valid JSON");
  CHECK(message("[]") == "malformed manifest: not a JSON object");
  CHECK(message(R"({"schemaVersion":1})").starts_with("unsupported media type"));
  CHECK(message(R"({"schemaVersion":"2"})") == "malformed manifest: `schemaVersion` is not 2");
  CHECK(message(R"({"schemaVersion":2,"mediaType":"text/html"})") ==
        "unsupported media type `text/html` for a manifest");
  CHECK(
      message(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})") ==
      "malformed manifest: missing field `config`");
  CHECK(
      message(
          fmt::format(
              R"({{"schemaVersion":2,"config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","size":1,"digest":"{}"}},"layers":[]}})",
              digestOf('a')))
          .find("not a container image") != std::string::npos);
  CHECK(
      message(fmt::format(
          R"({{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":1,"digest":"{}"}},"layers":[{{"mediaType":"application/x-foo","size":1,"digest":"{}"}}]}})",
          digestOf('a'), digestOf('b'))) ==
      "unsupported media type `application/x-foo` for layer 0");
  CHECK(
      message(
          fmt::format(
              R"({{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":-1,"digest":"{}"}},"layers":[]}})",
              digestOf('a')))
          .find("size") != std::string::npos);
  CHECK(
      message(
          R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":1,"digest":"sha256:x"},"layers":[]})")
          .find("invalid digest") != std::string::npos);
}

TEST_CASE("index: platform selection with variants and attestation entries") {
  std::string doc = index({
      entry(R"({"os":"linux","architecture":"amd64"})", 'a'),
      entry(R"({"os":"linux","architecture":"arm","variant":"v6"})", 'b'),
      entry(R"({"os":"linux","architecture":"arm","variant":"v7"})", 'c'),
      entry(R"({"os":"linux","architecture":"arm64","variant":"v8"})", 'd'),
      entry(R"({"os":"unknown","architecture":"unknown"})", 'e'),
      entry(R"({"os":"linux","architecture":"ppc64le"})", 'f',
            "application/vnd.docker.distribution.manifest.v2+json"),
  });
  CHECK(select(doc, "linux/amd64").digest == digestOf('a'));
  CHECK(select(doc, "linux/x86_64").digest == digestOf('a'));
  CHECK(select(doc, "linux/arm/v7").digest == digestOf('c'));
  CHECK(select(doc, "linux/arm/v6").digest == digestOf('b'));
  // arm64 "v8" is the default variant: "linux/arm64" and "linux/aarch64" find it.
  CHECK(select(doc, "linux/arm64").digest == digestOf('d'));
  CHECK(select(doc, "linux/aarch64").digest == digestOf('d'));
  CHECK(select(doc, "linux/arm64").platform == "linux/arm64");
  CHECK(select(doc, "linux/ppc64le").digest == digestOf('f'));

  auto parsed = parseManifestDocument(doc, "");
  auto none = selectPlatformManifest(parsed->manifests, *parsePlatform("linux/s390x"));
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message() ==
        "no image for platform linux/s390x; available: linux/amd64, linux/arm/v6, linux/arm/v7, "
        "linux/arm64, linux/ppc64le");
  auto v5 = selectPlatformManifest(parsed->manifests, *parsePlatform("linux/arm/v5"));
  CHECK_FALSE(v5.ok());
}

TEST_CASE("index: without a wanted variant, the plain entry beats a variant") {
  std::string doc = index({entry(R"({"os":"linux","architecture":"amd64","variant":"v3"})", 'a'),
                           entry(R"({"os":"linux","architecture":"amd64"})", 'b')});
  CHECK(select(doc, "linux/amd64").digest == digestOf('b'));
  CHECK(select(doc, "linux/amd64/v3").digest == digestOf('a'));
}

TEST_CASE("platforms: parsing and the host") {
  CHECK(parsePlatform("linux/arm64/v8")->toString() == "linux/arm64");
  CHECK(parsePlatform("linux/armhf")->toString() == "linux/arm/v7");
  CHECK_FALSE(parsePlatform("linux").ok());
  CHECK_FALSE(parsePlatform("linux//v7").ok());
  CHECK_FALSE(parsePlatform("a/b/c/d").ok());
  Platform host = detectHostPlatform();
  CHECK(host.os == "linux");
  CHECK_FALSE(host.architecture.empty());
  CHECK(host.architecture != "x86_64");
}
