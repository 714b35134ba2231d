#include "shared/container/mount_point.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <deque>

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::container {
namespace {

namespace fs = std::filesystem;

// Symlinks followed on one path at most, as the kernel does (MAXSYMLINKS).
constexpr int kMaxLinks = 40;

std::deque<std::string> components(std::string_view path) {
  std::deque<std::string> parts;
  for (auto& part : split(path, '/'))
    if (!part.empty() && part != ".")
      parts.push_back(std::move(part));
  return parts;
}

std::string joinPath(const std::vector<std::string>& parts) {
  std::string path;
  for (const std::string& part : parts)
    path += "/" + part;
  return path.empty() ? std::string("/") : path;
}

// Opens `path` inside the root following no symlink at all: ELOOP when one is on the way.
int openWithoutLinks(int rootFd, const std::string& path, int flags) {
  struct open_how how {};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS;
  size_t start = path.find_first_not_of('/');
  std::string relative = start == std::string::npos ? std::string(".") : path.substr(start);
  return static_cast<int>(::syscall(SYS_openat2, rootFd, relative.c_str(), &how, sizeof how));
}

bool onProcfs(int fd) {
  struct statfs st {};
  return ::fstatfs(fd, &st) == 0 && st.f_type == PROC_SUPER_MAGIC;
}

Error leavesImage(const ResolvedPath& resolved) {
  return Error(
      fmt::format("`{}` is a symlink to `{}`, which leads out of the image: a mount "
                  "cannot follow it",
                  resolved.link, resolved.linkText));
}

// The common case of mountPoint(): only the last component of `target` is missing and its
// parent is open as `parentFd` (resolved inside the root). Creates it there and opens it as
// openOrCreateInRoot() would, without walking the path from the root again (about 120 mount
// points per GPU container: a few syscalls each add up).
Result<UniqueFd> createInParent(int rootFd, int parentFd, const std::string& target,
                                sys::NodeKind kind) {
  std::string name = fs::path(target).filename().string();
  if (name.empty() || name == "." || name == "..")
    return sys::openOrCreateInRoot(rootFd, target, kind);
  if (kind == sys::NodeKind::kFile) {
    // O_EXCL: a dangling symlink planted in the image is never followed.
    int fd = ::openat(parentFd, name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                      0644);
    if (fd < 0)
      return errnoError(fmt::format("create `{}` in the container", target));
    ::close(fd);
  } else if (::mkdirat(parentFd, name.c_str(), 0755) != 0 && errno != EEXIST) {
    return errnoError(fmt::format("create directory `{}` in the container", target));
  }
  return sys::openInRoot(rootFd, target, O_PATH);
}

// A user's destination reached through a symlink that climbs out of the image or is absolute:
// refused rather than silently landing somewhere else than the user wrote.
Status checkUserDestination(int rootFd, const MountOp& op) {
  struct open_how how {};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  std::string relative = op.target.substr(op.target.find_first_not_of('/'));
  int fd = static_cast<int>(::syscall(SYS_openat2, rootFd, relative.c_str(), &how, sizeof how));
  if (fd >= 0)
    ::close(fd);
  else if (errno == EXDEV)
    return Error(fmt::format("{}: destination `{}` goes through a symlink leading out of the image",
                             op.origin, op.target));
  return okStatus();
}

// The deepest directory of `path` that exists inside the root (its parent when it exists).
Result<std::pair<fs::path, UniqueFd>> deepestExistingDirectory(int rootFd, const fs::path& path) {
  fs::path ancestor = path.parent_path();
  Result<UniqueFd> fd = sys::openInRoot(rootFd, ancestor.string(), O_PATH);
  while (!fd.ok() && fd.error().errnum() == ENOENT && ancestor != "/") {
    ancestor = ancestor.parent_path();
    fd = sys::openInRoot(rootFd, ancestor.string(), O_PATH);
  }
  if (!fd.ok())
    return std::move(fd).error();
  return std::pair{ancestor, std::move(fd).value()};
}

bool isCreatable(int fd, const CreatableDevices& creatable) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 &&
         std::find(creatable.begin(), creatable.end(), st.st_dev) != creatable.end();
}

}  // namespace

Result<ResolvedPath> resolveInImage(int rootFd, const std::string& path) {
  ResolvedPath result;
  std::vector<std::string> done;  // resolved components, no symlink among them
  std::deque<std::string> todo = components(path);
  // `dir` is open on the first `existing` components of `done`; past them nothing exists.
  UniqueFd dir(::fcntl(rootFd, F_DUPFD_CLOEXEC, 0));
  if (!dir)
    return errnoError("open the container root");
  size_t existing = 0;
  int links = 0;
  while (!todo.empty()) {
    std::string name = std::move(todo.front());
    todo.pop_front();
    if (name == "..") {
      if (done.empty()) {
        if (result.link.empty())
          return Error(fmt::format("`{}`: `..` climbs above the image's root", path));
        return leavesImage(result);
      }
      done.pop_back();
      if (done.size() < existing) {
        existing = done.size();
        int fd = openWithoutLinks(rootFd, joinPath(done), O_PATH | O_DIRECTORY);
        if (fd < 0)
          return errnoError(fmt::format("open `{}` in the image", joinPath(done)));
        dir = UniqueFd(fd);
      }
      continue;
    }
    std::string here = joinPath(done) + (done.empty() ? "" : "/") + name;
    if (done.size() > existing) {  // below a missing directory
      done.push_back(std::move(name));
      continue;
    }
    struct stat st {};
    if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT)
        return errnoError(fmt::format("look up `{}` in the image", here));
      done.push_back(std::move(name));
      continue;
    }
    if (S_ISLNK(st.st_mode)) {
      if (onProcfs(dir.get())) {
        // Magic links (/proc/self/fd/N, /proc/1/root) point at whatever a process holds.
        if (result.link.empty())
          return Error(
              fmt::format("`{}` is a link of the kernel's /proc: a mount cannot follow it", here));
        return Error(
            fmt::format("`{}` is a symlink to `{}`, which goes through the kernel's "
                        "/proc (`{}`): a mount cannot follow it",
                        result.link, result.linkText, here));
      }
      if (++links > kMaxLinks)
        return Error(fmt::format("`{}`: too many levels of symbolic links in the image", path));
      char text[PATH_MAX];
      ssize_t n = ::readlinkat(dir.get(), name.c_str(), text, sizeof text - 1);
      if (n < 0)
        return errnoError(fmt::format("read the symlink `{}` in the image", here));
      std::string target(text, static_cast<size_t>(n));
      if (result.link.empty()) {
        result.link = here;
        result.linkText = target;
      }
      if (target.starts_with('/')) {  // absolute: from the image's root
        done.clear();
        existing = 0;
        dir = UniqueFd(::fcntl(rootFd, F_DUPFD_CLOEXEC, 0));
        if (!dir)
          return errnoError("open the container root");
      }
      std::deque<std::string> more = components(target);
      todo.insert(todo.begin(), more.begin(), more.end());
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      if (!todo.empty())
        return Error::fromErrno(ENOTDIR, fmt::format("`{}` in the image", here));
      done.push_back(std::move(name));
      continue;
    }
    int fd = ::openat(dir.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return errnoError(fmt::format("open `{}` in the image", here));
    dir = UniqueFd(fd);
    done.push_back(std::move(name));
    existing = done.size();
  }
  result.path = joinPath(done);
  return result;
}

Result<MountPoint> mountPoint(int rootFd, const CreatableDevices& creatable, const MountOp& op,
                              sys::NodeKind kind, const MountPlan& plan) {
  if (op.missing == MissingTarget::kCreateForUser)
    BERTH_TRY(checkUserDestination(rootFd, op));
  MountPoint point;
  point.path = op.target;
  ResolvedPath resolved;
  if (int fd = openWithoutLinks(rootFd, op.target, O_PATH); fd >= 0) {
    point.fd = UniqueFd(fd);
    return point;
  }
  if (errno == ELOOP) {
    // Through the image's symlinks: land on the link's target, inside the image only.
    BERTH_ASSIGN(resolved, resolveInImage(rootFd, op.target).withContext(op.origin));
    point.path = resolved.path;
  } else if (errno != ENOENT) {
    return Error::fromErrno(errno, fmt::format("open `{}` in the image", op.target))
        .withContext(op.origin);
  }
  if (!resolved.link.empty()) {
    auto existing = sys::openInRoot(rootFd, point.path, O_PATH);
    if (existing.ok()) {
      // Its directory, not the file: overlayfs reports a file's own device as the layer's.
      BERTH_ASSIGN(auto parent, deepestExistingDirectory(rootFd, point.path));
      if (!isCreatable(parent.second.get(), creatable))
        return leavesImage(resolved).withContext(op.origin);
      point.fd = std::move(existing).value();
      return point;
    }
    if (existing.error().errnum() != ENOENT)
      return std::move(existing).error().withContext(op.origin);
  }
  // Missing: made in the container's own layer, read-only image or not (the image itself is
  // mounted read-only below the overlay and never changes). Only inside the overlay or a tmpfs
  // of the plan, never on a host directory bound earlier (/tmp): check the file system of the
  // deepest existing ancestor first.
  auto ancestor = deepestExistingDirectory(rootFd, point.path);
  if (!ancestor.ok())
    return std::move(ancestor).error().withContext(op.origin);
  if (!isCreatable(ancestor->second.get(), creatable)) {
    // A sandbox changed in place gets no mount points of ours: a system mount it lacks is
    // skipped (as Apptainer does), the user's destination must exist.
    if (plan.image.inPlace && op.missing == MissingTarget::kCreate)
      return point;
    if (plan.image.inPlace)
      return Error(fmt::format("{}: destination `{}` does not exist in the sandbox (make it first)",
                               op.origin, op.target));
    if (!resolved.link.empty())
      return leavesImage(resolved).withContext(op.origin);
    return Error(
        fmt::format("{}: destination `{}` does not exist, and `{}` is not part of the image",
                    op.origin, op.target, ancestor->first.string()));
  }
  Result<UniqueFd> created = ancestor->first == fs::path(point.path).parent_path()
                                 ? createInParent(rootFd, ancestor->second.get(), point.path, kind)
                                 : sys::openOrCreateInRoot(rootFd, point.path, kind);
  if (!created.ok() && plan.unprivileged && op.missing == MissingTarget::kCreate &&
      (created.error().errnum() == EACCES || created.error().errnum() == EPERM))
    return point;
  BERTH_ASSIGN(point.fd, std::move(created).withContext(op.origin));
  return point;
}

Status makeMountPointsInUpper(const MountPlan& plan, int lowerFd, const fs::path& upper,
                              const std::vector<std::optional<sys::NodeKind>>& kinds) {
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    const MountOp& op = plan.ops[i];
    if (!kinds[i])
      continue;
    std::string path = op.target;
    int fd = openWithoutLinks(lowerFd, op.target, O_PATH);
    if (fd >= 0) {
      ::close(fd);
      continue;  // in the image: nothing to make
    }
    if (errno == ELOOP) {
      auto resolved = resolveInImage(lowerFd, op.target);
      if (!resolved.ok() || sys::openInRoot(lowerFd, resolved->path, O_PATH).ok())
        continue;  // refused (mountPoint() says why), or the target exists
      path = resolved->path;
    } else if (errno != ENOENT || op.missing != MissingTarget::kCreateForUser) {
      continue;  // a system mount point missing from the image is skipped (mountPoint())
    }
    std::deque<std::string> parts = components(path);
    fs::path made = upper;
    std::string inImage;
    for (size_t j = 0; j < parts.size(); ++j) {
      made /= parts[j];
      inImage += "/" + parts[j];
      bool last = j + 1 == parts.size();
      if (last && *kinds[i] == sys::NodeKind::kFile) {
        UniqueFd file(::open(made.c_str(), O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
        if (!file)
          return errnoError(fmt::format("{}: create `{}` in the writable layer", op.origin, path));
        continue;
      }
      if (::mkdir(made.c_str(), 0755) != 0) {
        if (errno == EEXIST)
          continue;
        return errnoError(fmt::format("{}: create `{}` in the writable layer", op.origin, path));
      }
      // A directory of the image made again in the upper layer lends the merged directory its
      // attributes: keep the image's mode (the owner cannot be kept: the image's root is not
      // mapped in the user namespace).
      struct stat st {};
      int dir = openWithoutLinks(lowerFd, inImage, O_PATH | O_DIRECTORY);
      if (dir >= 0) {
        if (::fstat(dir, &st) == 0)
          ::chmod(made.c_str(), st.st_mode & 07777);
        ::close(dir);
      }
    }
  }
  return okStatus();
}

}  // namespace berth::container
