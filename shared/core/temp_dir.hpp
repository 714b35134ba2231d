// TempDir: a directory made with mkdtemp and removed, with its contents, when the owner goes.
#pragma once

#include <filesystem>
#include <string>

#include "shared/core/result.hpp"

namespace berth {

class TempDir {
 public:
  // Creates `PARENT/PREFIX.XXXXXX`.
  static Result<TempDir> create(const std::filesystem::path& parent, std::string_view prefix);

  TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { remove(); }

  const std::filesystem::path& path() const { return path_; }

  // Keeps the directory on disk; the caller owns it now.
  std::filesystem::path release() { return std::exchange(path_, {}); }

 private:
  explicit TempDir(std::filesystem::path path) : path_(std::move(path)) {}
  void remove() noexcept;

  std::filesystem::path path_;
};

}  // namespace berth
