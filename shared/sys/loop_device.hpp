// Kernel loop devices for squashfs images (privileged mode only).
#pragma once

#include "shared/core/result.hpp"
#include "shared/core/unique_fd.hpp"

namespace berth::sys {

struct LoopDevice {
  UniqueFd fd;       // keeps the device configured until the filesystem on it is mounted
  std::string path;  // "/dev/loopN"
};

// Finds a free loop device (LOOP_CTL_GET_FREE) and binds `backingFd` to it read-only with
// autoclear (LOOP_CONFIGURE): the device detaches itself when its last user (the mount, once
// the fd is closed) goes away. Retries when another process takes the same device first.
[[nodiscard]] Result<LoopDevice> attachLoopDevice(int backingFd);

}  // namespace berth::sys
