#include "shared/sys/mount.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

namespace berth::sys {
namespace {

unsigned long long attributeBits(const MountAttributes& attributes) {
  unsigned long long bits = 0;
  if (attributes.readOnly)
    bits |= MOUNT_ATTR_RDONLY;
  if (attributes.noSuid)
    bits |= MOUNT_ATTR_NOSUID;
  if (attributes.noDev)
    bits |= MOUNT_ATTR_NODEV;
  if (attributes.noExec)
    bits |= MOUNT_ATTR_NOEXEC;
  return bits;
}

}  // namespace

std::string fdPath(int fd) {
  return fmt::format("/proc/self/fd/{}", fd);
}

Status makeMountsPrivate() {
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return errnoError("make mounts private");
  return okStatus();
}

Status mountFilesystem(const std::string& source, const std::filesystem::path& target,
                       const std::string& fstype, unsigned long flags, const std::string& data) {
  if (::mount(source.c_str(), target.c_str(), fstype.c_str(), flags,
              data.empty() ? nullptr : data.c_str()) != 0)
    return errnoError(fmt::format("mount {} `{}` on `{}`", fstype, source, target.string()));
  return okStatus();
}

Result<UniqueFd> cloneTree(int sourceFd, bool recursive, const MountAttributes& attributes) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH;
  if (recursive)
    flags |= AT_RECURSIVE;
  UniqueFd tree(::open_tree(sourceFd, "", flags));
  if (!tree)
    return errnoError("clone mount tree");
  BERTH_TRY(setMountAttributes(tree.get(), recursive, attributes));
  return tree;
}

Status setMountAttributes(int mountFd, bool recursive, const MountAttributes& attributes) {
  struct mount_attr attr {};
  attr.attr_set = attributeBits(attributes);
  unsigned flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
  if (attr.attr_set != 0 && ::mount_setattr(mountFd, "", flags, &attr, sizeof attr) != 0)
    return errnoError("set mount attributes");
  return okStatus();
}

Status attachMount(int treeFd, int targetFd) {
  if (::move_mount(treeFd, "", targetFd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) !=
      0)
    return errnoError("attach mount");
  return okStatus();
}

Status pivotRootAndDetach(const std::filesystem::path& newRoot) {
  // The pivot_root(".", ".") idiom: no directory for the old root is needed inside the image;
  // the old root ends up stacked on "/" and is detached right away.
  if (::chdir(newRoot.c_str()) != 0)
    return errnoError(fmt::format("enter new root `{}`", newRoot.string()));
  if (::syscall(SYS_pivot_root, ".", ".") != 0)
    return errnoError("pivot_root");
  if (::umount2(".", MNT_DETACH) != 0)
    return errnoError("detach old root");
  if (::chdir("/") != 0)
    return errnoError("chdir /");
  return okStatus();
}

}  // namespace berth::sys
