#include "shared/sys/user_namespace.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>

#include "shared/core/unique_fd.hpp"
#include "shared/sys/process.hpp"

namespace berth::sys {
namespace {

Status writeProcFile(const char* path, const std::string& content) {
  UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
  if (!fd)
    return errnoError(fmt::format("open {}", path));
  return writeAll(fd.get(), content).withContext(path);
}

}  // namespace

Status enterUserNamespaceAsSelf(uid_t uid, gid_t gid) {
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
    return errnoError("create user namespace (are unprivileged user namespaces enabled?)");
  BERTH_TRY(writeProcFile("/proc/self/setgroups", "deny"));
  BERTH_TRY(writeProcFile("/proc/self/uid_map", fmt::format("{} {} 1\n", uid, uid)));
  BERTH_TRY(writeProcFile("/proc/self/gid_map", fmt::format("{} {} 1\n", gid, gid)));
  return okStatus();
}

Status enterMountNamespace() {
  if (::unshare(CLONE_NEWNS) != 0)
    return errnoError("create mount namespace");
  return okStatus();
}

Status joinNamespace(int fd, int nstype) {
  if (::setns(fd, nstype) != 0)
    return errnoError(nstype == CLONE_NEWUSER ? "join user namespace" : "join mount namespace");
  return okStatus();
}

}  // namespace berth::sys
