// Small wrappers over mount(2) and the new mount API (open_tree, mount_setattr, move_mount).
//
// Targets are given as O_PATH descriptors resolved inside the container root (see resolve.hpp),
// never as "root + user path" strings, so a symlink in an image cannot redirect a mount.
#pragma once

#include <filesystem>
#include <string>

#include "shared/core/result.hpp"
#include "shared/core/unique_fd.hpp"

namespace berth::sys {

// Attributes applied to a mount (MOUNT_ATTR_* of mount_setattr(2)).
struct MountAttributes {
  bool readOnly = false;
  bool noSuid = true;
  bool noDev = true;
  bool noExec = false;
};

// Makes every mount of the current mount namespace private, so nothing we mount propagates
// back to the host. Must run before the first mount in a fresh namespace.
[[nodiscard]] Status makeMountsPrivate();

// mount(2) of a new filesystem on `target` (a path; the caller owns its safety).
[[nodiscard]] Status mountFilesystem(const std::string& source, const std::filesystem::path& target,
                                     const std::string& fstype, unsigned long flags,
                                     const std::string& data);

// A detached copy of the tree at `source` (recursive when asked), with `attributes` applied to
// it (recursively), ready to be attached with attachMount.
[[nodiscard]] Result<UniqueFd> cloneTree(int sourceFd, bool recursive,
                                         const MountAttributes& attributes);

// Attaches a detached tree (from cloneTree) on the directory or file `targetFd`.
[[nodiscard]] Status attachMount(int treeFd, int targetFd);

// Applies `attributes` to the mount whose root is `mountFd` (recursively when asked).
[[nodiscard]] Status setMountAttributes(int mountFd, bool recursive,
                                        const MountAttributes& attributes);

// pivot_root(2) into `newRoot` (a mount point) and detaches the old root; cwd becomes "/".
[[nodiscard]] Status pivotRootAndDetach(const std::filesystem::path& newRoot);

// "/proc/self/fd/N": the path through which mount(2) reaches the object behind an fd.
std::string fdPath(int fd);

}  // namespace berth::sys
