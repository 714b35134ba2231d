// The one place that performs a MountPlan. Runs inside a fresh, private mount namespace (see
// container_namespace.hpp); owns every mount it makes and detaches them again, newest first,
// when a step fails, so a failed set-up leaves nothing behind even in a long-lived namespace.
#pragma once

#include "shared/container/mount_plan.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/sys/process.hpp"

namespace berth::container {

// Assembles the root from `plan` under plan.stagingDir (image, overlay), applies plan.ops,
// makes the root read-only unless writable, and pivot_roots into it. `user` is whose
// permissions bind sources are checked with (privileged mode). On success the calling process
// is inside the container root; on failure every mount made so far is detached.
// Unprivileged mode: the returned process is the FUSE server of the image (the caller keeps
// it running while the container is in use); otherwise it is empty.
[[nodiscard]] Result<sys::ChildProcess> executeMountPlan(const MountPlan& plan,
                                                         const sys::Identity& user);

// A container's image with a persistent layer's changes applied (MountPlan::persistentLayer:
// `layer`/upper), read-only, for saving it: the squashfs `imageFd` on `lower` (loop device),
// an overlay of the layer over it on `merged`; nosuid, nodev. Privileged, inside a private
// mount namespace: the mounts and the loop device go with it.
[[nodiscard]] Status mountSavedView(int imageFd, const std::filesystem::path& layer,
                                    const std::filesystem::path& lower,
                                    const std::filesystem::path& merged);

}  // namespace berth::container
