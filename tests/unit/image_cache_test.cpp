#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "shared/cache/image_cache.hpp"
#include "shared/core/atomic_file.hpp"
#include "shared/core/temp_dir.hpp"

using namespace berth;
using namespace berth::cache;
namespace fs = std::filesystem;

namespace {

std::string digestOf(char c) {
  return "sha256:" + std::string(64, c);
}

Status writeFile(const fs::path& path, const std::string& content) {
  BERTH_ASSIGN(AtomicFile file, AtomicFile::create(path));
  std::ofstream(file.tempPath()) << content;
  return file.commit();
}

int countLines(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line))
    ++n;
  return n;
}

}  // namespace

TEST_CASE("cache: ensure produces once, then finds by reference and digest") {
  auto dir = TempDir::create("/tmp", "berth-cache-test");
  REQUIRE(dir.ok());
  auto cache = ImageCache::open(dir->path() / "cache");
  REQUIRE(cache.ok());
  int produced = 0;
  auto produce = [&](const fs::path& out) {
    ++produced;
    return writeFile(out, "image-a");
  };
  auto first = cache->ensure(digestOf('a'), "example.org/a:1", produce);
  REQUIRE_MESSAGE(first.ok(), first.error().message());
  auto again = cache->ensure(digestOf('a'), "example.org/a:latest", produce);
  REQUIRE(again.ok());
  CHECK(produced == 1);
  CHECK(first->path == dir->path() / "cache/images" / ("sha256-" + std::string(64, 'a') + ".sqsh"));
  CHECK(first->size == 7);

  auto byRef = cache->find("example.org/a:latest");
  REQUIRE(byRef.ok());
  REQUIRE(byRef->has_value());
  CHECK((*byRef)->digest == digestOf('a'));
  CHECK((*byRef)->reference == "example.org/a:1,example.org/a:latest");
  CHECK((*byRef)->lastUsed > 0);
  auto byPrefix = cache->find("sha256:aaaaaaaaaaaa");
  REQUIRE(byPrefix.ok());
  CHECK(byPrefix->has_value());
  REQUIRE(cache->recordReference("docker.io/library/ubuntu:22.04", digestOf('a')).ok());
  auto shortRef = cache->find("ubuntu:22.04");
  REQUIRE(shortRef.ok());
  CHECK(shortRef->has_value());
  auto missing = cache->find("example.org/nope:1");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());
  CHECK_FALSE(cache->find("../../etc/passwd")->has_value());
  CHECK_FALSE(cache->imagePath("sha256:../../x").ok());

  REQUIRE(cache->remove("example.org/a:1").ok());
  CHECK_FALSE(cache->find(digestOf('a'))->has_value());
  CHECK_FALSE(cache->find("example.org/a:latest")->has_value());
  CHECK_FALSE(cache->remove("example.org/a:1").ok());
}

TEST_CASE("cache: a failed producer leaves no image") {
  auto dir = TempDir::create("/tmp", "berth-cache-test");
  REQUIRE(dir.ok());
  auto cache = ImageCache::open(dir->path());
  REQUIRE(cache.ok());
  auto failed = cache->ensure(digestOf('b'), "r",
                              [](const fs::path&) -> Status { return Error("disk full"); });
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().message() == "disk full");
  CHECK(cache->list()->empty());
}

TEST_CASE("cache: two processes ensuring one image produce it once") {
  auto dir = TempDir::create("/tmp", "berth-cache-test");
  REQUIRE(dir.ok());
  fs::path root = dir->path() / "cache";
  fs::path log = dir->path() / "produced.log";
  auto produce = [&](const fs::path& out) -> Status {
    std::ofstream(log, std::ios::app) << getpid() << "\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return writeFile(out, "shared image");
  };
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto cache = ImageCache::open(root);
    bool ok = cache.ok() && cache->ensure(digestOf('c'), "ref:c", produce).ok();
    _exit(ok ? 0 : 1);
  }
  auto cache = ImageCache::open(root);
  REQUIRE(cache.ok());
  auto image = cache->ensure(digestOf('c'), "ref:c", produce);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  REQUIRE(image.ok());
  CHECK(countLines(log) == 1);
  std::ifstream in(image->path);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == "shared image");
}

TEST_CASE("cache: a killed writer leaves only a temp file, removed by the next open") {
  auto dir = TempDir::create("/tmp", "berth-cache-test");
  REQUIRE(dir.ok());
  fs::path root = dir->path();
  REQUIRE(ImageCache::open(root).ok());
  int pipefd[2];
  REQUIRE(pipe(pipefd) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto cache = ImageCache::open(root);
    (void)cache->ensure(digestOf('d'), "ref:d", [&](const fs::path& out) -> Status {
      auto file = AtomicFile::create(out);
      std::ofstream(file->tempPath()) << "half an ima";
      char ready = 'r';
      (void)!write(pipefd[1], &ready, 1);
      pause();  // killed here, mid-write, holding the digest lock
      return okStatus();
    });
    _exit(0);
  }
  char ready = 0;
  REQUIRE(read(pipefd[0], &ready, 1) == 1);
  close(pipefd[0]);
  close(pipefd[1]);
  int temps = 0;
  for (const auto& e : fs::directory_iterator(root / "images"))
    temps += AtomicFile::isTempName(e.path().filename().string());
  CHECK(temps == 1);
  // While the writer lives, its temp file is not stale.
  REQUIRE(ImageCache::open(root).ok());
  CHECK(std::distance(fs::directory_iterator(root / "images"), {}) == 1);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);

  std::ofstream(root / ".index.json.tmp-AbC123") << "{";  // an index writer that died
  auto cache = ImageCache::open(root);
  REQUIRE(cache.ok());
  CHECK(std::distance(fs::directory_iterator(root / "images"), {}) == 0);
  CHECK_FALSE(fs::exists(root / ".index.json.tmp-AbC123"));
  CHECK(cache->list()->empty());
  auto image = cache->ensure(digestOf('d'), "ref:d",
                             [](const fs::path& out) { return writeFile(out, "whole"); });
  REQUIRE(image.ok());
  CHECK(image->size == 5);
}

TEST_CASE("cache: gc removes least recently used first, and old entries") {
  auto dir = TempDir::create("/tmp", "berth-cache-test");
  REQUIRE(dir.ok());
  auto cache = ImageCache::open(dir->path());
  REQUIRE(cache.ok());
  const std::string tenBytes = "0123456789";
  for (char c : {'1', '2', '3'}) {
    REQUIRE(cache
                ->ensure(digestOf(c), std::string("ref:") + c,
                         [&](const fs::path& out) { return writeFile(out, tenBytes); })
                .ok());
  }
  int64_t now = static_cast<int64_t>(time(nullptr));
  REQUIRE(cache->touch(digestOf('1'), now - 100).ok());
  REQUIRE(cache->touch(digestOf('2'), now - 300).ok());  // least recently used
  REQUIRE(cache->touch(digestOf('3'), now - 200).ok());

  auto gc = cache->gc(25, std::nullopt);
  REQUIRE(gc.ok());
  REQUIRE(gc->removedImages.size() == 1);
  CHECK(gc->removedImages[0].digest == digestOf('2'));
  CHECK(gc->bytesFreed == 10);

  auto old = cache->gc(std::nullopt, std::chrono::seconds(150));
  REQUIRE(old.ok());
  REQUIRE(old->removedImages.size() == 1);
  CHECK(old->removedImages[0].digest == digestOf('3'));
  auto left = cache->list();
  REQUIRE(left.ok());
  REQUIRE(left->size() == 1);
  CHECK(left->front().digest == digestOf('1'));
  CHECK(left->front().reference == "ref:1");
}

TEST_CASE("cache: findImageFile and touchIfOlder, the Slurm step start's cheap path") {
  auto dir = TempDir::create("/tmp", "berth-cache-test");
  REQUIRE(dir.ok());
  auto opened = ImageCache::open(dir->path());
  REQUIRE(opened.ok());
  REQUIRE(opened
              ->ensure(digestOf('a'), "ref:a",
                       [&](const fs::path& out) { return writeFile(out, "image-a"); })
              .ok());
  ImageCache cache = ImageCache::attach(dir->path());
  auto found = cache.findImageFile(digestOf('a'));
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK(**found == dir->path() / "images" / ("sha256-" + std::string(64, 'a') + ".sqsh"));
  auto missing = cache.findImageFile(digestOf('b'));
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());
  CHECK_FALSE(cache.findImageFile("sha256:nothex").ok());
  auto lastUsed = [&]() -> int64_t {
    auto listed = cache.list();
    REQUIRE(listed.ok());
    for (const auto& image : *listed)
      if (image.digest == digestOf('a'))
        return image.lastUsed;
    FAIL("image a is not listed");
    return 0;
  };
  const std::chrono::seconds interval(600);
  REQUIRE(cache.touch(digestOf('a'), 1000).ok());
  // Used within the interval: nothing is written (not even the index's modification time).
  auto indexTime = fs::last_write_time(dir->path() / "index.json");
  REQUIRE(cache.touchIfOlder(digestOf('a'), interval, 1000 + 599).ok());
  CHECK(lastUsed() == 1000);
  CHECK(fs::last_write_time(dir->path() / "index.json") == indexTime);
  // Older than the interval: marked used.
  REQUIRE(cache.touchIfOlder(digestOf('a'), interval, 1000 + 600).ok());
  CHECK(lastUsed() == 1600);
  // A time in the future (a clock step back) is corrected, not trusted.
  REQUIRE(cache.touch(digestOf('a'), 5000).ok());
  REQUIRE(cache.touchIfOlder(digestOf('a'), interval, 2000).ok());
  CHECK(lastUsed() == 2000);
  // An image not marked used yet is.
  REQUIRE(opened
              ->ensure(digestOf('d'), "ref:d",
                       [&](const fs::path& out) { return writeFile(out, "image-d"); })
              .ok());
  REQUIRE(cache.touchIfOlder(digestOf('d'), interval, 3000).ok());
  auto listed = cache.list();
  REQUIRE(listed.ok());
  CHECK(listed->front().digest == digestOf('d'));
  CHECK(listed->front().lastUsed == 3000);
}
