#include <cstring>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>

#include "shared/gpu/ld_cache.hpp"
#include "tests/unit/gpu_fake_driver.hpp"

using namespace berth::gpu;
namespace fs = std::filesystem;

namespace {

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

TEST_CASE("ld.so.cache: a cache written by ldconfig is read entry by entry") {
  auto root = testing::makeFakeDriver();
  auto cache = readLdCache((root.path() / "etc/ld.so.cache").string());
  REQUIRE(cache.ok());
  CHECK(cache->entries.size() == 10);
  int libcudaEntries = 0;
  for (const auto& entry : cache->entries) {
    CHECK(entry.flags == hostLibraryFlags());
    CHECK(entry.hwcapsDir.empty());
    CHECK(entry.path.ends_with("/" + entry.soname));
    if (entry.soname == "libcuda.so.1") {
      ++libcudaEntries;
      CHECK((entry.path == "/usr/lib/x86_64-linux-gnu/libcuda.so.1" ||
             entry.path == "/opt/old-driver/libcuda.so.1"));
    }
  }
  CHECK(libcudaEntries == 2);
  // The soname whose link is the versioned file itself.
  bool glcore = false;
  for (const auto& entry : cache->entries)
    glcore |= entry.soname == "libnvidia-glcore.so.580.159.04";
  CHECK(glcore);
}

TEST_CASE("ld.so.cache: the host's own cache parses") {
  if (!std::filesystem::exists("/etc/ld.so.cache"))
    return;
  auto cache = readLdCache("/etc/ld.so.cache");
  REQUIRE_MESSAGE(cache.ok(), testing::errorOf(cache));
  bool libc = false;
  for (const auto& entry : cache->entries)
    libc |= entry.soname == "libc.so.6";
  CHECK(libc);
}

TEST_CASE("ld.so.cache: malformed caches are errors, never crashes") {
  auto root = testing::makeFakeDriver();
  std::string good = readFile(root.path() / "etc/ld.so.cache");
  REQUIRE(parseLdCache(good).ok());

  CHECK(parseLdCache("").error().message() ==
        "parse ld.so.cache: not an ld.so.cache file (unknown magic)");
  CHECK_FALSE(parseLdCache("glibc-ld.so.cache1.1").ok());
  // Every truncation fails cleanly.
  for (size_t length = 0; length < good.size(); length += 7) {
    auto result = parseLdCache(std::string_view(good).substr(0, length));
    if (result.ok())
      CHECK(length > 48);  // only cuts inside trailing data can still parse
  }
  std::string wrongVersion = good;
  wrongVersion[19] = '2';
  CHECK(parseLdCache(wrongVersion).error().message() ==
        "parse ld.so.cache: unsupported cache version (want 1.1)");
  std::string tooMany = good;
  uint32_t huge = 0x10000000;
  std::memcpy(tooMany.data() + 20, &huge, 4);
  CHECK(parseLdCache(tooMany).error().message().find("entries do not fit") != std::string::npos);
  std::string badKey = good;
  uint32_t past = static_cast<uint32_t>(good.size()) + 100;
  std::memcpy(badKey.data() + 48 + 4, &past, 4);
  CHECK(parseLdCache(badKey).error().message().find("key offset") != std::string::npos);
  std::string bigEndian = good;
  bigEndian[28] = 3;
  CHECK(parseLdCache(bigEndian).error().message().find("other byte order") != std::string::npos);
  std::string badExtension = good;
  uint32_t extensionAt = static_cast<uint32_t>(good.size()) - 4;
  std::memcpy(badExtension.data() + 32, &extensionAt, 4);
  CHECK_FALSE(parseLdCache(badExtension).ok());
}

TEST_CASE("ld.so.cache: glibc-hwcaps entries and the old+new compat layout") {
  auto root = testing::makeFakeDriver();
  const fs::path lib = root.path() / "usr/lib/x86_64-linux-gnu";
  fs::create_directories(lib / "glibc-hwcaps/x86-64-v3");
  fs::copy_file(lib / "libunrelated.so.1.2.3",
                lib / "glibc-hwcaps/x86-64-v3/libunrelated.so.1.2.3");
  std::string command =
      fmt::format("ldconfig -r '{}' -c compat -C /etc/compat.cache -f /etc/ld.so.conf -X",
                  root.path().string());
  REQUIRE(std::system(command.c_str()) == 0);
  auto cache = readLdCache((root.path() / "etc/compat.cache").string());
  REQUIRE_MESSAGE(cache.ok(), testing::errorOf(cache));
  bool hwcaps = false;
  for (const auto& entry : cache->entries) {
    if (!entry.hwcapsDir.empty()) {
      hwcaps = true;
      CHECK(entry.hwcapsDir == "x86-64-v3");
      CHECK(entry.path == "/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libunrelated.so.1.2.3");
    }
  }
  CHECK(hwcaps);
  CHECK(cache->entries.size() == 11);
}
