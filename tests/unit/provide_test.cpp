#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "shared/cache/image_cache.hpp"
#include "shared/cache/provide.hpp"
#include "shared/core/temp_dir.hpp"

using namespace berth;
using namespace berth::cache;

namespace {

// A directory source (a sandbox): pulled without a registry.
std::string makeSandbox(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir / "sandbox/etc");
  std::ofstream(dir / "sandbox/etc/hostname") << "box\n";
  return (dir / "sandbox").string();
}

}  // namespace

TEST_CASE("provideImage: a local source is pulled once, with the site's conversion settings") {
  auto dir = TempDir::create("/tmp", "berth-provide-test");
  REQUIRE(dir.ok());
  config::SiteConfig site;
  site.zstdLevel = 9;
  std::filesystem::path root = dir->path() / "cache";
  ImageWanted wanted;
  wanted.image = makeSandbox(dir->path());
  int announced = 0;
  wanted.pulling = [&](std::string_view reference) {
    ++announced;
    CHECK(reference == wanted.image);
  };
  auto first = provideImage(site, root, wanted, Logger());
  REQUIRE_MESSAGE(first.ok(), first.error().message());
  CHECK(first->parent_path() == root / "images");
  auto again = provideImage(site, root, wanted, Logger());
  REQUIRE(again.ok());
  CHECK(*again == *first);
  CHECK(announced == 1);
  // berth.conf's zstd_level reached the conversion.
  if (std::system("command -v unsquashfs >/dev/null 2>&1") == 0) {
    std::string check =
        fmt::format("unsquashfs -s '{}' | grep -q 'compression-level 9'", first->string());
    CHECK(std::system(check.c_str()) == 0);
  }
}

TEST_CASE("provideImage: a pinned digest in the cache needs no registry -- isProvided sees it") {
  auto dir = TempDir::create("/tmp", "berth-provide-test");
  REQUIRE(dir.ok());
  config::SiteConfig site;
  std::filesystem::path root = dir->path() / "cache";
  ImageWanted sandbox;
  sandbox.image = makeSandbox(dir->path());
  auto pulled = provideImage(site, root, sandbox, Logger());
  REQUIRE_MESSAGE(pulled.ok(), pulled.error().message());
  auto cache = ImageCache::open(root);
  REQUIRE(cache.ok());
  auto listed = cache->list();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  std::string digest = listed->front().digest;
  CHECK(isProvided(root, digest) == std::optional<bool>(true));
  CHECK(isProvided(root, "sha256:" + std::string(64, 'a')) == std::optional<bool>(false));
  // No registry answers at this name: the pinned image is found by its digest alone.
  ImageWanted pinned;
  pinned.image = "registry.invalid/none:1";
  pinned.pinnedDigest = digest;
  pinned.pulling = [](std::string_view) { FAIL("pulled an image the cache holds"); };
  auto found = provideImage(site, root, pinned, Logger());
  REQUIRE_MESSAGE(found.ok(), found.error().message());
  CHECK(*found == *pulled);
}
