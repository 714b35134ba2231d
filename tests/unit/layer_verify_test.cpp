#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "shared/convert/layer_reader.hpp"
#include "shared/core/temp_dir.hpp"
#include "shared/image/digest.hpp"
#include "tests/unit/tar_builder.hpp"

using namespace berth;
using namespace berth::image;
using namespace berth::convert;
using berth::test::TarBuilder;

namespace {

// Reads every entry and its data; the error of the first failing call, or "" at a clean end.
std::string readThrough(const std::filesystem::path& blob, const LayerDigests& expected,
                        int* entries = nullptr) {
  auto reader = LayerReader::openFile(blob, expected);
  if (!reader.ok())
    return reader.error().message();
  char buf[4096];
  for (;;) {
    auto entry = reader->next();
    if (!entry.ok())
      return entry.error().message();
    if (!*entry)
      return "";
    if (entries)
      ++*entries;
    for (;;) {
      auto n = reader->read(buf, sizeof buf);
      if (!n.ok())
        return n.error().message();
      if (*n == 0)
        break;
    }
  }
}

std::string digestOf(const std::string& data) {
  auto digest = sha256Digest(data);
  REQUIRE(digest.ok());
  return *digest;
}

}  // namespace

TEST_CASE("layer verification: blob digest and size, and the uncompressed diff_id") {
  auto dir = TempDir::create(std::filesystem::temp_directory_path(), "berth-verify");
  REQUIRE(dir.ok());
  for (const char* filter : {"none", "gzip", "zstd"}) {
    CAPTURE(filter);
    TarBuilder plain;
    plain.dir("etc").file("etc/os-release", "ID=debian\n").file("bin/sh", std::string(70000, 'x'));
    TarBuilder compressed(filter);
    compressed.dir("etc")
        .file("etc/os-release", "ID=debian\n")
        .file("bin/sh", std::string(70000, 'x'));
    const std::string tar = plain.bytes();
    const std::string blob = compressed.bytes();
    auto path = dir->path() / (std::string("layer.") + filter);
    std::ofstream(path, std::ios::binary) << blob;
    LayerDigests right{digestOf(blob), static_cast<int64_t>(blob.size()), digestOf(tar)};

    int entries = 0;
    CHECK(readThrough(path, right, &entries) == "");
    CHECK(entries == 3);

    // Entries whose data is never read (skipped by the top-down merge) are hashed all the same.
    auto reader = LayerReader::openFile(path, right);
    REQUIRE(reader.ok());
    for (;;) {
      auto entry = reader->next();
      REQUIRE(entry.ok());
      if (!*entry)
        break;
    }

    LayerDigests wrongDiffId = right;
    wrongDiffId.diffId = digestOf("another layer");
    CHECK(readThrough(path, wrongDiffId)
              .find("uncompressed content (diff_id in the config): digest mismatch: expected " +
                    wrongDiffId.diffId + ", got " + right.diffId) != std::string::npos);

    LayerDigests wrongBlob = right;
    wrongBlob.blob = digestOf("another blob");
    CHECK(readThrough(path, wrongBlob).find("blob: digest mismatch") != std::string::npos);

    LayerDigests wrongSize = right;
    wrongSize.blobSize = right.blobSize + 1;
    CHECK(readThrough(path, wrongSize)
              .find(fmt::format("blob has {} bytes, its descriptor says {}", blob.size(),
                                blob.size() + 1)) != std::string::npos);
  }
}

TEST_CASE("layer verification: bytes after the tar's end belong to the blob") {
  auto dir = TempDir::create(std::filesystem::temp_directory_path(), "berth-verify");
  REQUIRE(dir.ok());
  TarBuilder layer;
  layer.file("a", "a");
  std::string padded = layer.bytes() + std::string(8192, '\0');
  auto path = dir->path() / "padded.tar";
  std::ofstream(path, std::ios::binary) << padded;
  // The digest of the whole file, not of what the tar reader consumed.
  LayerDigests whole{digestOf(padded), static_cast<int64_t>(padded.size()), digestOf(padded)};
  CHECK(readThrough(path, whole) == "");
  LayerDigests consumed{digestOf(layer.bytes()), -1, ""};
  CHECK(readThrough(path, consumed).find("digest mismatch") != std::string::npos);
}
