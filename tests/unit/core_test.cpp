#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "shared/core/file_lock.hpp"
#include "shared/core/log.hpp"
#include "shared/core/result.hpp"
#include "shared/core/scope_exit.hpp"
#include "shared/core/strings.hpp"
#include "shared/core/temp_dir.hpp"
#include "shared/core/unique_fd.hpp"

namespace fs = std::filesystem;
using namespace berth;

namespace {

Result<int> parsePositive(int n) {
  if (n <= 0)
    return Error("not positive");
  return n;
}

Result<int> doubled(int n) {
  BERTH_ASSIGN(int value, parsePositive(n).withContext("parse"));
  return value * 2;
}

Status checkAll(const std::vector<int>& values) {
  for (int v : values)
    BERTH_TRY(parsePositive(v).withContext(fmt::format("value {}", v)));
  return okStatus();
}

}  // namespace

TEST_CASE("Result carries a value or an error with context added on the way up") {
  CHECK(*doubled(21) == 42);
  Result<int> failed = doubled(-1);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().message() == "parse: not positive");
  CHECK(std::move(failed).valueOr(7) == 7);

  CHECK(checkAll({1, 2, 3}).ok());
  Status status = checkAll({1, -5, 3});
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message() == "value -5: not positive");
  CHECK(std::move(status).withContext("check").error().message() ==
        "check: value -5: not positive");
}

TEST_CASE("Error::fromErrno keeps errno and says what failed") {
  Error error = Error::fromErrno(ENOENT, "open `/nope`");
  CHECK(error.errnum() == ENOENT);
  CHECK(error.message() == "open `/nope`: No such file or directory");
  Error outer = error.withContext("load config");
  CHECK(outer.errnum() == ENOENT);
  CHECK(outer.message() == "load config: open `/nope`: No such file or directory");
}

TEST_CASE("UniqueFd closes once and can be released or moved") {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(raw >= 0);
  {
    UniqueFd fd(raw);
    UniqueFd moved(std::move(fd));
    CHECK_FALSE(fd.valid());
    CHECK(moved.get() == raw);
  }
  CHECK(::fcntl(raw, F_GETFD) == -1);  // closed by the owner

  int other = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  {
    UniqueFd fd(other);
    CHECK(fd.release() == other);
  }
  CHECK(::fcntl(other, F_GETFD) != -1);  // released: still open
  ::close(other);
}

TEST_CASE("ScopeExit runs on scope end unless dismissed") {
  int runs = 0;
  {
    ScopeExit guard([&] { ++runs; });
  }
  CHECK(runs == 1);
  {
    ScopeExit guard([&] { ++runs; });
    guard.dismiss();
  }
  CHECK(runs == 1);
}

TEST_CASE("TempDir removes its tree, or leaves it when released") {
  fs::path kept;
  fs::path removed;
  {
    auto dir = TempDir::create(fs::temp_directory_path(), "berth-test");
    REQUIRE(dir.ok());
    removed = dir->path();
    fs::create_directories(removed / "a" / "b");
    std::ofstream(removed / "a" / "b" / "file") << "data";
    CHECK(fs::exists(removed / "a" / "b" / "file"));
  }
  CHECK_FALSE(fs::exists(removed));
  {
    auto dir = TempDir::create(fs::temp_directory_path(), "berth-test");
    REQUIRE(dir.ok());
    kept = dir->release();
  }
  CHECK(fs::is_directory(kept));
  fs::remove_all(kept);

  auto missing = TempDir::create("/nonexistent-parent", "x");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().errnum() == ENOENT);
}

TEST_CASE("FileLock excludes a second holder and times out clearly") {
  auto dir = TempDir::create(fs::temp_directory_path(), "berth-lock");
  REQUIRE(dir.ok());
  fs::path lockPath = dir->path() / "image.lock";

  auto first = FileLock::acquire(lockPath, LockMode::kExclusive, std::chrono::milliseconds(100));
  REQUIRE(first.ok());
  // flock locks belong to the open file description: a second open conflicts even in-process.
  auto second = FileLock::tryAcquire(lockPath, LockMode::kExclusive);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().errnum() == EWOULDBLOCK);

  auto timed = FileLock::acquire(lockPath, LockMode::kShared, std::chrono::milliseconds(50));
  REQUIRE_FALSE(timed.ok());
  CHECK(timed.error().errnum() == ETIMEDOUT);
  CHECK(timed.error().message().find("still held") != std::string::npos);

  // Released by a thread while we wait: the waiter gets it.
  std::thread releaser([holder = std::move(*first)]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    FileLock dropped = std::move(holder);
  });
  auto waited = FileLock::acquire(lockPath, LockMode::kExclusive, std::chrono::seconds(5));
  releaser.join();
  CHECK(waited.ok());
}

TEST_CASE("Logger sends to the injected sink at or above its threshold") {
  std::vector<std::pair<LogLevel, std::string>> seen;
  Logger log([&](LogLevel level, std::string_view m) { seen.emplace_back(level, m); },
             LogLevel::kInfo);
  log.info("pulled {} layers", 3);
  log.verbose("not shown");
  log.error("bad {}", "thing");
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].second == "pulled 3 layers");
  CHECK(seen[1].first == LogLevel::kError);
  Logger silent;
  silent.error("dropped");  // no sink: nothing happens
  CHECK_FALSE(silent.enabled(LogLevel::kError));
}

TEST_CASE("split and trim") {
  CHECK(split("a,,b", ',') == std::vector<std::string>{"a", "", "b"});
  CHECK(split("", ',') == std::vector<std::string>{""});
  CHECK(trim("  x y \n") == "x y");
  CHECK(trim(" \t ").empty());
}
