// AtomicFile: a file that appears under its final name complete or not at all.
//
// Written as `DIR/.NAME.tmp-XXXXXX` (same directory, so rename(2) is atomic, also on NFS and
// Lustre), fsynced, then renamed over NAME by commit(). Destroyed without commit, the temp file
// is removed; a killed process leaves only a `.tmp-` file that ImageCache removes on its next
// run (isTempName()).
#pragma once

#include <filesystem>
#include <string_view>

#include "shared/core/result.hpp"

namespace berth {

class AtomicFile {
 public:
  static Result<AtomicFile> create(const std::filesystem::path& finalPath);

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  ~AtomicFile();

  const std::filesystem::path& tempPath() const { return temp_; }
  const std::filesystem::path& finalPath() const { return final_; }

  // fsync the temp file, rename it to the final name, fsync the directory.
  Status commit();

  // Whether a directory entry's name is one of AtomicFile's temp names.
  static bool isTempName(std::string_view name);
  // The final name a temp name stands for (".x.sqsh.tmp-ab12CD" -> "x.sqsh").
  static std::string finalNameOf(std::string_view tempName);

 private:
  AtomicFile(std::filesystem::path temp, std::filesystem::path final)
      : temp_(std::move(temp)), final_(std::move(final)) {}

  std::filesystem::path temp_;
  std::filesystem::path final_;
};

}  // namespace berth
