#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include <fmt/format.h>

#include "shared/convert/converter.hpp"
#include "shared/convert/layer_reader.hpp"
#include "shared/core/temp_dir.hpp"
#include "shared/image/digest.hpp"
#include "tests/unit/tar_builder.hpp"

using namespace berth;
using namespace berth::image;
using namespace berth::convert;
using berth::test::TarBuilder;

namespace {

struct Seen {
  LayerEntry entry;
  std::string content;
};

// The image's tree, read back through squashfs-tools-ng's sqfs2tar (an independent reader).
std::map<std::string, Seen> readImage(const std::filesystem::path& image,
                                      const std::filesystem::path& scratch) {
  std::filesystem::path tar = scratch / "back.tar";
  std::string cmd =
      fmt::format("sqfs2tar --no-skip '{}' > '{}' 2>/dev/null", image.string(), tar.string());
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto reader = LayerReader::openFile(tar);
  REQUIRE(reader.ok());
  std::map<std::string, Seen> out;
  while (true) {
    auto entry = reader->next();
    REQUIRE(entry.ok());
    if (!*entry)
      break;
    Seen seen{**entry, ""};
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

TEST_CASE("convert: layered tar blobs become one squashfs with /.berth metadata") {
  if (std::system("command -v sqfs2tar >/dev/null 2>&1") != 0) {
    MESSAGE("sqfs2tar missing: skipped");
    return;
  }
  auto dir = TempDir::create("/tmp", "berth-convert-test");
  REQUIRE(dir.ok());
  const auto& d = dir->path();
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>((i * 7919) >> 5);
  auto fillBottom = [&](TarBuilder& b) {
    b.dir("usr", 0755)
        .dir("usr/bin", 0755)
        .file("usr/bin/big", big, 0755)
        .file("usr/bin/gone", "deleted above")
        .file("etc/owned", "mine", 0600, 1000, 1000)
        .symlink("usr/bin/sh", "/bin/busybox");
  };
  auto fillTop = [](TarBuilder& b) {
    b.hardlink("usr/bin/big2", "usr/bin/big")
        .file("usr/bin/.wh.gone", "")
        .xattrFile("etc/x", "x", "user.tag", "value")
        .file("empty", "");
  };
  TarBuilder bottom("gzip"), top("zstd"), bottomTar, topTar;
  fillBottom(bottom);
  fillBottom(bottomTar);
  fillTop(top);
  fillTop(topTar);
  bottom.writeTo(d / "l0.tar.gz");
  top.writeTo(d / "l1.tar.zst");

  // Real digests: every layer is verified against its blob digest and the config's diff_ids.
  std::vector<LayerBlob> layers = {{d / "l0.tar.gz",
                                    "application/vnd.oci.image.layer.v1.tar+gzip",
                                    *sha256Digest(bottom.bytes()),
                                    {}},
                                   {d / "l1.tar.zst",
                                    "application/vnd.oci.image.layer.v1.tar+zstd",
                                    *sha256Digest(top.bytes()),
                                    {}}};
  ImageMetadataFiles meta{
      fmt::format(
          R"({{"config":{{"Env":["A=1"]}},"rootfs":{{"type":"layers","diff_ids":["{}","{}"]}}}})",
          *sha256Digest(bottomTar.bytes()), *sha256Digest(topTar.bytes())),
      R"({"reference":"x"})"};
  std::filesystem::path out = d / "image.sqsh";
  auto stats = convertLayers(layers, meta, out, ConvertOptions{}, Logger());
  REQUIRE_MESSAGE(stats.ok(), stats.error().message());
  CHECK(std::filesystem::file_size(out) % 4096 == 0);
  // Nothing but the image is left in the directory: the temp file was renamed.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(d))
    files += e.path().filename().string()[0] == '.' ? 100 : 1;
  CHECK(files == 3);

  auto tree = readImage(out, d);
  REQUIRE(tree.count("usr/bin/big") == 1);
  CHECK(tree["usr/bin/big"].content == big);
  CHECK(tree["usr/bin/big"].entry.mode == 0755);
  CHECK(tree["usr/bin/big2"].entry.type == EntryType::kHardlink);
  CHECK(tree["usr/bin/big2"].entry.linkTarget == "usr/bin/big");
  CHECK(tree.count("usr/bin/gone") == 0);
  CHECK(tree["usr/bin/sh"].entry.type == EntryType::kSymlink);
  CHECK(tree["usr/bin/sh"].entry.linkTarget == "/bin/busybox");
  CHECK(tree["etc/owned"].entry.uid == 1000);
  CHECK(tree["etc/owned"].entry.mode == 0600);
  CHECK(tree["etc/owned"].content == "mine");
  CHECK(tree["etc/owned"].entry.mtime == 1700000000);
  REQUIRE(tree["etc/x"].entry.xattrs.size() == 1);
  CHECK(tree["etc/x"].entry.xattrs[0].second == "value");
  CHECK(tree.count("empty") == 1);
  CHECK(tree[".berth/config.json"].content == meta.configJson);
  CHECK(tree[".berth/source.json"].content == meta.sourceJson);
  CHECK(stats->merge.filesRead == 6);  // big, owned, x, empty + 2 metadata files
}

TEST_CASE("convert: a failed conversion leaves nothing behind") {
  auto dir = TempDir::create("/tmp", "berth-convert-test");
  REQUIRE(dir.ok());
  std::filesystem::path bad = dir->path() / "bad.tar";
  FILE* f = std::fopen(bad.c_str(), "wb");
  std::fputs("this is not a tar stream at all, not even close.", f);
  std::fclose(f);
  auto stats = convertLayers({{bad, "", "sha256:bad", {}}}, {}, dir->path() / "out.sqsh",
                             ConvertOptions{}, Logger());
  REQUIRE_FALSE(stats.ok());
  CHECK(stats.error().message().find("sha256:bad") != std::string::npos);
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir->path()))
    ++entries;
  CHECK(entries == 1);  // bad.tar only

  // A layer whose download failed: the error names it, nothing is written.
  auto waited = convertLayers({{bad, "", "sha256:late", [] { return Status(Error("HTTP 500")); }}},
                              {}, dir->path() / "out.sqsh", ConvertOptions{}, Logger());
  REQUIRE_FALSE(waited.ok());
  CHECK(waited.error().message().find("layer sha256:late: HTTP 500") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir->path() / "out.sqsh"));

  // A config whose diff_ids do not list every layer: nothing to verify the layers against.
  ImageMetadataFiles short_{
      R"({"rootfs":{"type":"layers","diff_ids":["sha256:)" + std::string(64, 'a') + R"("]}})", ""};
  auto unverifiable = convertLayers({{bad, "", "", {}}, {bad, "", "", {}}}, short_,
                                    dir->path() / "out.sqsh", ConvertOptions{}, Logger());
  REQUIRE_FALSE(unverifiable.ok());
  CHECK(unverifiable.error().message().find("the image config lists 1 diff_ids for 2 layers") !=
        std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir->path() / "out.sqsh"));
}

TEST_CASE("convert: images beyond the site's limits are refused, naming the setting") {
  auto dir = TempDir::create("/tmp", "berth-convert-test");
  REQUIRE(dir.ok());
  const auto& d = dir->path();
  TarBuilder tar("gzip");
  tar.dir("a").file("a/one", "1").file("a/two", std::string(4096, 'x')).file("a/three", "3");
  tar.writeTo(d / "l.tar.gz");
  auto convert = [&](ImageLimits limits, size_t layers = 1) {
    ConvertOptions options;
    options.limits = limits;
    std::vector<LayerBlob> blobs(layers, LayerBlob{d / "l.tar.gz", "", "", {}});
    return convertLayers(blobs, {}, d / "out.sqsh", options, Logger());
  };
  CHECK(convert(ImageLimits{}).ok());
  std::filesystem::remove(d / "out.sqsh");

  auto entries = convert(ImageLimits{.entries = 3});
  REQUIRE_FALSE(entries.ok());
  CHECK(entries.error().message().find(
            "the image has more than 3 entries (berth.conf max_image_entries)") !=
        std::string::npos);
  auto bytes = convert(ImageLimits{.bytes = 4096});
  REQUIRE_FALSE(bytes.ok());
  CHECK(bytes.error().message().find("more than 4096 bytes uncompressed (berth.conf "
                                     "max_image_size); `a/two` alone declares 4096") !=
        std::string::npos);
  auto layers = convert(ImageLimits{.layers = 2}, 3);
  REQUIRE_FALSE(layers.ok());
  CHECK(layers.error().message().find("the image has 3 layers, more than 2 (berth.conf "
                                      "max_layers)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(d / "out.sqsh"));
  CHECK(checkLayerCount(1000, ImageLimits{}).ok());
  CHECK_FALSE(checkLayerCount(1001, ImageLimits{}).ok());
}
