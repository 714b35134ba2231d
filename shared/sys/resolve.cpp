#include "shared/sys/resolve.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::sys {
namespace {

// glibc 2.36 has no openat2 wrapper.
int rawOpenat2(int dirFd, const char* path, int flags) {
  struct open_how how {};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, dirFd, path, &how, sizeof how));
}

std::string relative(std::string_view path) {
  while (!path.empty() && path.front() == '/')
    path.remove_prefix(1);
  return path.empty() ? std::string(".") : std::string(path);
}

}  // namespace

Result<UniqueFd> openInRoot(int rootFd, std::string_view path, int flags) {
  int fd = rawOpenat2(rootFd, relative(path).c_str(), flags);
  if (fd < 0)
    return errnoError(fmt::format("open `{}` in the image", path));
  return UniqueFd(fd);
}

Result<UniqueFd> openOrCreateInRoot(int rootFd, std::string_view path, NodeKind kind) {
  if (auto existing = openInRoot(rootFd, path, O_PATH);
      existing.ok() || existing.error().errnum() != ENOENT)
    return existing;
  std::vector<std::string> parts;
  for (auto& part : split(relative(path), '/'))
    if (!part.empty() && part != ".")
      parts.push_back(part);
  if (parts.empty())
    return Error(fmt::format("`{}`: not a path", path));
  std::string prefix;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == "..")
      return Error(fmt::format("`{}`: `..` is not allowed in a mount destination", path));
    std::string parent = prefix.empty() ? std::string(".") : prefix;
    prefix += (prefix.empty() ? "" : "/") + parts[i];
    int probe = rawOpenat2(rootFd, prefix.c_str(), O_PATH);
    if (probe >= 0) {
      ::close(probe);
      continue;
    }
    if (errno != ENOENT)
      return errnoError(fmt::format("open `/{}` in the image", prefix));
    BERTH_ASSIGN(UniqueFd parentFd, openInRoot(rootFd, parent, O_PATH | O_DIRECTORY));
    bool last = i + 1 == parts.size();
    if (last && kind == NodeKind::kFile) {
      // O_EXCL: a dangling symlink planted in the image is never followed.
      int fd = ::openat(parentFd.get(), parts[i].c_str(),
                        O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd < 0)
        return errnoError(fmt::format("create `/{}` in the image", prefix));
      ::close(fd);
    } else if (::mkdirat(parentFd.get(), parts[i].c_str(), 0755) != 0 && errno != EEXIST) {
      return errnoError(fmt::format("create directory `/{}` in the image", prefix));
    }
  }
  return openInRoot(rootFd, path, O_PATH);
}

Result<std::string> readFileInRoot(int rootFd, std::string_view path, size_t limit) {
  BERTH_ASSIGN(UniqueFd fd, openInRoot(rootFd, path, O_RDONLY | O_NOCTTY));
  std::string content;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errnoError(fmt::format("read `{}` in the image", path));
    if (n == 0)
      break;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > limit)
      return Error(fmt::format("`{}` in the image is larger than {} bytes", path, limit));
  }
  return content;
}

}  // namespace berth::sys
