#include "shared/container/scaffold.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "shared/core/unique_fd.hpp"
#include "shared/sys/process.hpp"

namespace berth::container {
namespace {

namespace fs = std::filesystem;

// A root-owned copy holds at most this much of a file (shadow files, logs of a few records).
constexpr off_t kMaxCopyBytes = off_t{4} << 20;

Status makeDirectory(const fs::path& path, mode_t mode) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    return errnoError(fmt::format("scaffold: create `{}`", path.string()));
  if (::chmod(path.c_str(), mode & 07777) != 0)
    return errnoError(fmt::format("scaffold: chmod `{}`", path.string()));
  return okStatus();
}

Status writeFile(const fs::path& path, std::string_view content, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd)
    return errnoError(fmt::format("scaffold: create `{}`", path.string()));
  BERTH_TRY(sys::writeAll(fd.get(), content).withContext(path.string()));
  if (::fchmod(fd.get(), mode & 07777) != 0)
    return errnoError(fmt::format("scaffold: chmod `{}`", path.string()));
  return okStatus();
}

// The image's directory holding `path` (its parents opened one by one, no symlink followed),
// made in the scaffold with the image's modes on the way. Empty when the image lacks it.
Result<UniqueFd> parentInImage(int lowerFd, const fs::path& path, const fs::path& dir) {
  UniqueFd parent(::fcntl(lowerFd, F_DUPFD_CLOEXEC, 0));
  fs::path current = dir;
  for (const auto& part : path.parent_path()) {
    parent = UniqueFd(
        ::openat(parent.get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!parent || ::fstat(parent.get(), &st) != 0)
      return UniqueFd();
    current /= part;
    BERTH_TRY(makeDirectory(current, st.st_mode));
  }
  return parent;
}

// A root-owned copy of the image's entry `name` (in `parent`) at `target`; whether one was made.
Result<bool> copyAsRoot(int parent, const fs::path& name, const fs::path& target) {
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return false;  // not in this image
  if (st.st_uid == 0 && st.st_gid == 0)
    return false;  // root's already: nothing to do
  if (S_ISDIR(st.st_mode)) {
    BERTH_TRY(makeDirectory(target, st.st_mode));
    return true;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > kMaxCopyBytes)
    return false;
  UniqueFd source(::openat(parent, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!source)
    return false;  // unreadable to root inside: it stays as it is
  BERTH_ASSIGN(std::string content, sys::readAll(source.get()));
  BERTH_TRY(writeFile(target, content, st.st_mode));
  return true;
}

}  // namespace

Result<bool> makeScaffold(const std::vector<ScaffoldEntry>& entries, int lowerFd,
                          const fs::path& dir) {
  bool made = false;
  for (const ScaffoldEntry& entry : entries) {
    fs::path path = fs::path(entry.path).relative_path();
    BERTH_ASSIGN(UniqueFd parent, parentInImage(lowerFd, path, dir));
    if (!parent)
      continue;  // e.g. no /etc/apt: nothing to configure
    if (entry.kind == ScaffoldEntry::Kind::kFile) {
      BERTH_TRY(writeFile(dir / path, entry.content, 0644));
      made = true;
      continue;
    }
    BERTH_ASSIGN(bool copied, copyAsRoot(parent.get(), path.filename(), dir / path));
    made = made || copied;
  }
  return made;
}

}  // namespace berth::container
