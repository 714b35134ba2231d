#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "shared/convert/converter.hpp"
#include "shared/convert/inflate_gzip.hpp"
#include "shared/convert/layer_reader.hpp"
#include "shared/core/temp_dir.hpp"
#include "shared/image/digest.hpp"
#include "tests/unit/tar_builder.hpp"

using namespace berth;
using namespace berth::convert;
using berth::test::TarBuilder;

namespace {

// One gzip member of `data`, made by zlib (level 6, as gzip(1) and most image builders).
std::string gzipMember(const std::string& data) {
  z_stream s{};
  REQUIRE(deflateInit2(&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&s, data.size()), '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  s.avail_in = static_cast<uInt>(data.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&s, Z_FINISH) == Z_STREAM_END);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

// Text-like runs and pseudo-random bytes: both kinds of deflate blocks.
std::string sample(size_t size, unsigned seed) {
  std::string out;
  out.reserve(size);
  uint32_t x = seed * 2654435761u + 1;
  while (out.size() < size) {
    x = x * 1664525u + 1013904223u;
    if ((x >> 28) < 9)
      out += fmt::format("line {} of the log, value {}\n", out.size(), x % 1000);
    else
      for (int i = 0; i < 256; ++i, x = x * 1664525u + 1013904223u)
        out += static_cast<char>(x >> 24);
  }
  out.resize(size);
  return out;
}

// Inflates `gz` handing it over in pieces of `chunk` bytes (the first piece `first` bytes),
// into buffers of `outChunk` bytes. The error's message on failure.
Result<std::string> inflateAll(GzipBackend backend, const std::string& gz, size_t chunk,
                               size_t outChunk, size_t first = 0) {
  BERTH_ASSIGN(std::unique_ptr<GzipInflater> inflater, GzipInflater::create(backend));
  REQUIRE(inflater->backend() == backend);
  std::string out;
  std::vector<char> buffer(outChunk);
  size_t fed = 0;
  while (!inflater->finished()) {
    BERTH_ASSIGN(size_t n, inflater->inflate(buffer.data(), buffer.size()));
    out.append(buffer.data(), n);
    if (n > 0 || inflater->finished())
      continue;
    size_t piece = std::min(fed == 0 && first > 0 ? first : chunk, gz.size() - fed);
    inflater->feed(gz.data() + fed, piece);
    fed += piece;
  }
  return out;
}

std::vector<GzipBackend> backends() {
  std::vector<GzipBackend> out{GzipBackend::kZlib};
  if (isalAvailable())
    out.push_back(GzipBackend::kIsal);
  else
    MESSAGE("ISA-L (libisal.so.2) is not available here: zlib alone is tested");
  return out;
}

std::string sha256(const std::filesystem::path& path) {
  auto digest = image::sha256File(path.string());
  REQUIRE(digest.ok());
  return *digest;
}

}  // namespace

TEST_CASE("gzip inflater: every backend gives the original bytes, however the input is cut") {
  std::string a = sample(3 << 20, 1), b = sample(300000, 2);
  std::string twoMembers = gzipMember(a) + gzipMember(b);
  for (GzipBackend backend : backends()) {
    CAPTURE(gzipBackendName(backend));
    for (size_t chunk : {size_t{1} << 20, size_t{65536}, size_t{4093}}) {
      CAPTURE(chunk);
      auto out = inflateAll(backend, twoMembers, chunk, 1 << 20);
      REQUIRE_MESSAGE(out.ok(), out.error().message());
      CHECK(out->size() == a.size() + b.size());
      CHECK(*out == a + b);
    }
    // Small pieces in and out: state kept across every kind of boundary.
    std::string small = gzipMember(b.substr(0, 20000)) + gzipMember("x");
    auto out = inflateAll(backend, small, 7, 333);
    REQUIRE_MESSAGE(out.ok(), out.error().message());
    CHECK(*out == b.substr(0, 20000) + "x");
  }
}

TEST_CASE("gzip inflater: members split anywhere around their boundary, trailing bytes") {
  std::string a = sample(100000, 3), b = sample(50000, 4);
  std::string first = gzipMember(a), second = gzipMember(b);
  for (GzipBackend backend : backends()) {
    CAPTURE(gzipBackendName(backend));
    // The first piece ends just before, at and after the second member's magic bytes.
    for (size_t cut = first.size() - 9; cut <= first.size() + 3; ++cut) {
      CAPTURE(cut);
      auto out = inflateAll(backend, first + second, 1 << 20, 65536, cut);
      REQUIRE_MESSAGE(out.ok(), out.error().message());
      CHECK(*out == a + b);
    }
    // Zero padding after the stream (as some registries' blobs have) is not part of it; nor is
    // a lone 0x1f, cut from its next byte or not.
    for (const std::string& tail :
         {std::string(10240, '\0'), std::string("\x1f"), std::string("\x1f\x00", 2)}) {
      for (size_t cut : {first.size(), first.size() + 1}) {
        auto out = inflateAll(backend, first + tail, 1 << 20, 65536, cut);
        REQUIRE_MESSAGE(out.ok(), out.error().message());
        CHECK(*out == a);
      }
    }
  }
}

TEST_CASE("gzip inflater: corrupt, truncated and mis-summed streams are errors") {
  std::string data = sample(200000, 5);
  std::string good = gzipMember(data);
  std::string flipped = good;
  flipped[good.size() / 2] = static_cast<char>(flipped[good.size() / 2] ^ 0x55);
  std::string badCrc = good;
  badCrc[good.size() - 6] = static_cast<char>(badCrc[good.size() - 6] ^ 1);  // CRC-32
  std::string badLength = good;
  badLength[good.size() - 3] = static_cast<char>(badLength[good.size() - 3] ^ 1);  // ISIZE
  for (GzipBackend backend : backends()) {
    CAPTURE(gzipBackendName(backend));
    for (const std::string* bad : {&flipped, &badCrc, &badLength}) {
      auto out = inflateAll(backend, *bad, 4096, 65536);
      CHECK_FALSE(out.ok());
    }
    auto truncated = inflateAll(backend, good.substr(0, good.size() / 2), 4096, 65536);
    REQUIRE_FALSE(truncated.ok());
    CHECK(truncated.error().message().find("truncated") != std::string::npos);
    auto noTrailer = inflateAll(backend, good.substr(0, good.size() - 4), 4096, 65536);
    CHECK_FALSE(noTrailer.ok());
    auto backendName = fmt::format("gzip ({})", gzipBackendName(backend));
    auto corrupt = inflateAll(backend, flipped, 4096, 65536);
    REQUIRE_FALSE(corrupt.ok());
    CHECK(corrupt.error().message().find(backendName) != std::string::npos);
  }
}

TEST_CASE("gzip inflater: an image converted with ISA-L is byte for byte the one zlib gives") {
  if (!isalAvailable()) {
    MESSAGE("ISA-L (libisal.so.2) is not available here: skipped");
    return;
  }
  auto dir = TempDir::create("/tmp", "berth-inflate-test");
  REQUIRE(dir.ok());
  const auto& d = dir->path();
  std::string big = sample(5 << 20, 6);
  TarBuilder bottom, top;
  bottom.dir("usr", 0755).file("usr/big", big, 0755).file("usr/small", "small");
  for (int i = 0; i < 200; ++i)
    bottom.file(fmt::format("usr/many/{}", i), sample(100 + i * 37, i), 0644, i, i);
  top.file("usr/.wh.small", "").file("usr/top", sample(70000, 7)).hardlink("usr/big2", "usr/big");
  // The bottom layer in two gzip members, as `cat a.gz b.gz` makes.
  std::string bottomTar = bottom.bytes(), topTar = top.bytes();
  size_t half = bottomTar.size() / 2;
  std::ofstream(d / "l0.gz", std::ios::binary)
      << gzipMember(bottomTar.substr(0, half)) + gzipMember(bottomTar.substr(half));
  std::ofstream(d / "l1.gz", std::ios::binary) << gzipMember(topTar);
  std::vector<LayerBlob> layers = {{d / "l0.gz", "", "", {}}, {d / "l1.gz", "", "", {}}};
  ImageMetadataFiles meta{
      fmt::format(R"({{"rootfs":{{"type":"layers","diff_ids":["{}","{}"]}}}})",
                  *image::sha256Digest(bottomTar), *image::sha256Digest(topTar)),
      R"({"reference":"x"})"};
  ::setenv(std::string(kGzipInflaterVariable).c_str(), "zlib", 1);
  std::time_t before = std::time(nullptr);
  auto withZlib = convertLayers(layers, meta, d / "zlib.sqsh", ConvertOptions{}, Logger());
  ::unsetenv(std::string(kGzipInflaterVariable).c_str());
  REQUIRE_MESSAGE(withZlib.ok(), withZlib.error().message());
  auto withIsal = convertLayers(layers, meta, d / "isal.sqsh", ConvertOptions{}, Logger());
  REQUIRE_MESSAGE(withIsal.ok(), withIsal.error().message());
  CHECK(withIsal->squashfs.inputBytes > big.size());
  CHECK(withIsal->squashfs.inputBytes == withZlib->squashfs.inputBytes);
  // /.berth's mtime is the conversion's second: whole files compare when both fell in one.
  if (std::time(nullptr) == before)
    CHECK(sha256(d / "isal.sqsh") == sha256(d / "zlib.sqsh"));
  // The tree, read back by sqfs2tar: every entry but /.berth the same, content included.
  if (std::system("command -v sqfs2tar >/dev/null 2>&1") == 0) {
    std::map<std::string, std::string> trees[2];
    int i = 0;
    for (const char* name : {"isal", "zlib"}) {
      std::string cmd = fmt::format("sqfs2tar --no-skip '{0}/{1}.sqsh' > '{0}/{1}.tar' 2>/dev/null",
                                    d.string(), name);
      REQUIRE(std::system(cmd.c_str()) == 0);
      auto reader = LayerReader::openFile(d / fmt::format("{}.tar", name));
      REQUIRE(reader.ok());
      for (;;) {
        auto entry = reader->next();
        REQUIRE(entry.ok());
        if (!*entry)
          break;
        const LayerEntry& e = **entry;
        std::string seen = fmt::format("{} {:o} {} {} {} {}|", entryTypeName(e.type), e.mode, e.uid,
                                       e.gid, e.mtime, e.linkTarget);
        char buf[65536];
        for (;;) {
          auto n = reader->read(buf, sizeof buf);
          REQUIRE(n.ok());
          if (*n == 0)
            break;
          seen.append(buf, *n);
        }
        if (!e.path.starts_with(".berth"))
          trees[i][e.path] = std::move(seen);
      }
      ++i;
    }
    CHECK(trees[0].size() == 205);  // usr, usr/many, 200 files, big, big2, top (small: whited out)
    CHECK(trees[0]["usr/big"].size() > big.size());
    CHECK(trees[0] == trees[1]);
  }
  // And the data went through: the ISA-L image holds the big file (compressed, not absent).
  CHECK(std::filesystem::file_size(d / "isal.sqsh") > big.size() / 4);
}
