#include "shared/sys/trusted_path.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <string>

#include <fmt/format.h>

namespace berth::sys {
namespace {

namespace fs = std::filesystem;

// Symbolic links followed at most, as the kernel's ELOOP limit.
constexpr int kMaxLinks = 40;

std::deque<std::string> componentsOf(const fs::path& path) {
  std::deque<std::string> parts;
  for (const fs::path& part : path.relative_path())
    parts.push_back(part.string());
  return parts;
}

// One component: who owns it and who else may write it. `last`: the path itself (a sticky
// world-writable directory protects the entries below it, not itself).
Status checkComponent(const fs::path& path, const struct stat& st, bool last,
                      const TrustedOwners& owners) {
  if (!owners.trusts(st.st_uid))
    return Error(fmt::format("`{}` is owned by uid {}, not by root", path.string(), st.st_uid));
  if (S_ISLNK(st.st_mode))
    return okStatus();  // a link cannot be changed in place: its directory was checked
  bool stickyDirectory = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) != 0;
  if (stickyDirectory && !last)
    return okStatus();
  unsigned mode = st.st_mode & 07777;
  if (st.st_mode & S_IWOTH)
    return Error(fmt::format("`{}` is writable by every user (mode {:04o})", path.string(), mode));
  if (st.st_mode & S_IWGRP)
    return Error(
        fmt::format("`{}` is writable by group {} (mode {:04o})", path.string(), st.st_gid, mode));
  return okStatus();
}

}  // namespace

Status checkTrustedPath(const fs::path& path, const TrustedOwners& owners) {
  std::error_code ec;
  fs::path absolute = fs::absolute(path, ec).lexically_normal();
  if (ec)
    return Error(fmt::format("`{}`: {}", path.string(), ec.message()), ec.value());
  std::deque<std::string> pending = componentsOf(absolute);
  fs::path real = "/";
  struct stat st {};
  if (::lstat("/", &st) != 0)
    return errnoError("stat `/`");
  BERTH_TRY(checkComponent(real, st, pending.empty(), owners));
  int links = 0;
  while (!pending.empty()) {
    std::string part = std::move(pending.front());
    pending.pop_front();
    if (part == ".")
      continue;
    if (part == "..") {
      real = real.parent_path();
      continue;
    }
    fs::path next = real / part;
    if (::lstat(next.c_str(), &st) != 0)
      return errnoError(fmt::format("stat `{}`", next.string()));
    BERTH_TRY(checkComponent(next, st, pending.empty(), owners));
    if (!S_ISLNK(st.st_mode)) {
      real = std::move(next);
      continue;
    }
    if (++links > kMaxLinks)
      return Error(fmt::format("`{}`: too many levels of symbolic links", path.string()), ELOOP);
    fs::path target = fs::read_symlink(next, ec);
    if (ec)
      return Error(fmt::format("read link `{}`: {}", next.string(), ec.message()), ec.value());
    if (target.is_absolute())
      real = "/";
    std::deque<std::string> expansion = componentsOf(target);
    pending.insert(pending.begin(), expansion.begin(), expansion.end());
  }
  return okStatus();
}

}  // namespace berth::sys
