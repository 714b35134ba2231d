// Mount points inside the container root: where a MountOp lands, found (and made when missing,
// in the container's own layer, read-only image or not) without ever leaving the image,
// including through the image's own symlinks.
//
// Images ship their system files as symlinks (systemd: /etc/resolv.conf ->
// ../run/systemd/resolve/stub-resolv.conf, often dangling). A mount onto such a path lands on
// the link's target inside the image, made in the writable layer when it is missing (never in
// the image file); a link that climbs out of the image, or that goes through the kernel's
// /proc (magic links such as /proc/self/fd/N), is refused with a message naming it.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shared/container/mount_plan.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/sys/resolve.hpp"

namespace berth::container {

struct ResolvedPath {
  std::string path;  // absolute, no symlinks; its last components may not exist
  std::string link;  // the first symlink followed on the way ("" when none)
  std::string linkText;
};

// `path` (absolute, inside the root open as `rootFd`) with every symlink on the way resolved
// inside the image, as the container would see it (an absolute link starts at the image's
// root). Errors name the symlink: one whose `..` climbs above the image's root, one that goes
// through the kernel's /proc (magic links: /proc/self/fd/N), or a loop.
[[nodiscard]] Result<ResolvedPath> resolveInImage(int rootFd, const std::string& path);

// Devices of the file systems where mount points may be created: the root's overlay and the
// tmpfs mounts the plan made (never a host directory bound earlier, such as /tmp).
using CreatableDevices = std::vector<dev_t>;

struct MountPoint {
  UniqueFd fd;       // O_PATH; empty: skip this mount (see mountPoint)
  std::string path;  // where it is inside the root, symlinks resolved
};

// The mount point for `op` inside the root, created when missing and allowed.
// An empty fd: skip this mount (unprivileged mode, a system mount point the user namespace
// cannot create because the image's directories belong to an unmapped root).
[[nodiscard]] Result<MountPoint> mountPoint(int rootFd, const CreatableDevices& creatable,
                                            const MountOp& op, sys::NodeKind kind,
                                            const MountPlan& plan);

// Unprivileged mode: a user namespace cannot create a mount point in the image's root-owned
// directories, so the missing mount points behind the image's symlinks, and the missing
// destinations of the user's binds and working directory, are made in the overlay's upper
// directory `upper` before the overlay is mounted; `lowerFd` is the image's root. `kinds[i]`
// is what plan.ops[i] mounts (none: it makes no mount point, a tmpfs does not need one made
// in advance).
[[nodiscard]] Status makeMountPointsInUpper(const MountPlan& plan, int lowerFd,
                                            const std::filesystem::path& upper,
                                            const std::vector<std::optional<sys::NodeKind>>& kinds);

}  // namespace berth::container
