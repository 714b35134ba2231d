// The FUSE server of unprivileged containers.
//
// Without root the kernel will not mount squashfs, so the image is served through FUSE: berth
// mounts the FUSE connection itself (it holds CAP_SYS_ADMIN in its user namespace) and answers
// the kernel's requests with libsquashfuse's low-level operations in a forked child. No server
// binary is executed; libsquashfuse_ll (and libfuse3 with it) is opened the first time an
// unprivileged container starts, so nothing else pays for loading it.
#pragma once

#include <cstddef>

#include "shared/core/result.hpp"
#include "shared/sys/process.hpp"

namespace berth::container {

// Decompressed data blocks the server keeps, in bytes (libsquashfuse keeps a single block by
// default, so a program's pages read out of order decompress the same blocks again and again).
inline constexpr size_t kSquashfsBlockCacheBytes = 8u << 20;

// Serves the squashfs image `imageFd` on the FUSE connection `fuseFd` (mounted by the caller)
// from a child process, until the connection goes away or the child is terminated. The image
// is opened and checked before this returns: a file that is not a squashfs image is an error
// here, not a mount that fails later.
[[nodiscard]] Result<sys::ChildProcess> serveSquashfs(int imageFd, int fuseFd);

}  // namespace berth::container
