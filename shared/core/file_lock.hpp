// FileLock: an flock(2) on a lock file, waited for up to a timeout, released with its owner.
//
// flock works across processes on one host and, on the shared filesystems sites use for image
// caches (NFSv4, Lustre, GPFS with flock enabled), across nodes.
#pragma once

#include <chrono>
#include <filesystem>

#include "shared/core/cancel.hpp"
#include "shared/core/result.hpp"
#include "shared/core/unique_fd.hpp"

namespace berth {

enum class LockMode { kShared, kExclusive };

class FileLock {
 public:
  // Opens (creating, mode 0644) `path` and locks it; gives up with an error after `timeout`,
  // or with cancelledError() as soon as `cancelled` says so.
  static Result<FileLock> acquire(const std::filesystem::path& path, LockMode mode,
                                  std::chrono::milliseconds timeout,
                                  const CancelCheck& cancelled = {});
  // One attempt: an empty optional-like failure is reported as an Error with errnum EWOULDBLOCK.
  static Result<FileLock> tryAcquire(const std::filesystem::path& path, LockMode mode);

  FileLock(FileLock&&) noexcept = default;
  FileLock& operator=(FileLock&&) noexcept = default;

  const std::filesystem::path& path() const { return path_; }

 private:
  FileLock(UniqueFd fd, std::filesystem::path path) : fd_(std::move(fd)), path_(std::move(path)) {}

  UniqueFd fd_;  // closing the descriptor releases the lock
  std::filesystem::path path_;
};

}  // namespace berth
