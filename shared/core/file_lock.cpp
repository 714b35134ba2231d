#include "shared/core/file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <thread>

#include <fmt/format.h>

namespace berth {
namespace {

Result<UniqueFd> openLockFile(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd)
    return errnoError(fmt::format("open lock file `{}`", path.string()));
  return fd;
}

int flockOperation(LockMode mode) {
  return mode == LockMode::kShared ? LOCK_SH : LOCK_EX;
}

}  // namespace

Result<FileLock> FileLock::tryAcquire(const std::filesystem::path& path, LockMode mode) {
  BERTH_ASSIGN(UniqueFd fd, openLockFile(path));
  if (::flock(fd.get(), flockOperation(mode) | LOCK_NB) != 0) {
    return errnoError(fmt::format("lock `{}`", path.string()));
  }
  return FileLock(std::move(fd), path);
}

Result<FileLock> FileLock::acquire(const std::filesystem::path& path, LockMode mode,
                                   std::chrono::milliseconds timeout,
                                   const CancelCheck& cancelled) {
  BERTH_ASSIGN(UniqueFd fd, openLockFile(path));
  // Poll with a growing pause: flock has no timeout of its own, and a signal-based
  // timeout would disturb the host process (slurmstepd).
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(5);
  while (true) {
    if (::flock(fd.get(), flockOperation(mode) | LOCK_NB) == 0) {
      return FileLock(std::move(fd), path);
    }
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return errnoError(fmt::format("lock `{}`", path.string()));
    }
    if (isCancelled(cancelled))
      return cancelledError(fmt::format("wait for the lock `{}`", path.string()));
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error(fmt::format("lock `{}`: still held by another process after {} ms",
                               path.string(), timeout.count()),
                   ETIMEDOUT);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(200));
  }
}

}  // namespace berth
