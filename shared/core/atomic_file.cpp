#include "shared/core/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>

#include "shared/core/unique_fd.hpp"

namespace berth {
namespace {

constexpr std::string_view kTempMarker = ".tmp-";

Status fsyncPath(const std::filesystem::path& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!fd)
    return errnoError(fmt::format("open `{}`", path.string()));
  if (::fsync(fd.get()) != 0)
    return errnoError(fmt::format("fsync `{}`", path.string()));
  return okStatus();
}

}  // namespace

Result<AtomicFile> AtomicFile::create(const std::filesystem::path& finalPath) {
  std::filesystem::path dir = finalPath.parent_path();
  if (dir.empty())
    dir = ".";
  std::string pattern =
      (dir / fmt::format(".{}{}XXXXXX", finalPath.filename().string(), kTempMarker)).string();
  int fd = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (fd < 0)
    return errnoError(fmt::format("create temporary file in `{}`", dir.string()));
  ::close(fd);
  ::chmod(pattern.c_str(), 0644);  // mkstemp makes 0600; images are read by every user
  return AtomicFile(pattern, finalPath);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : temp_(std::exchange(other.temp_, {})), final_(std::move(other.final_)) {}

AtomicFile::~AtomicFile() {
  if (!temp_.empty())
    ::unlink(temp_.c_str());
}

Status AtomicFile::commit() {
  BERTH_TRY(fsyncPath(temp_, O_RDONLY));
  if (::rename(temp_.c_str(), final_.c_str()) != 0)
    return errnoError(fmt::format("rename `{}` to `{}`", temp_.string(), final_.string()));
  temp_.clear();
  std::filesystem::path dir = final_.parent_path();
  return fsyncPath(dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY);
}

bool AtomicFile::isTempName(std::string_view name) {
  return name.size() > 1 && name[0] == '.' && name.find(kTempMarker) != std::string_view::npos;
}

std::string AtomicFile::finalNameOf(std::string_view tempName) {
  size_t marker = tempName.rfind(kTempMarker);
  if (tempName.empty() || tempName[0] != '.' || marker == std::string_view::npos)
    return std::string(tempName);
  return std::string(tempName.substr(1, marker - 1));
}

}  // namespace berth
