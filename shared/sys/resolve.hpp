// Paths inside a container root, resolved by the kernel without leaving it (openat2 with
// RESOLVE_IN_ROOT: "..", absolute symlinks and magic links cannot escape the root).
#pragma once

#include <string_view>

#include "shared/core/result.hpp"
#include "shared/core/unique_fd.hpp"

namespace berth::sys {

// Opens `path` (absolute or relative, interpreted inside `rootFd`) with `flags` (O_PATH, ...).
[[nodiscard]] Result<UniqueFd> openInRoot(int rootFd, std::string_view path, int flags);

enum class NodeKind { kDirectory, kFile };

// Opens `path` inside the root as O_PATH, creating the missing components (directories, and a
// final empty file or directory as `kind` says) with mode 0755/0644.
[[nodiscard]] Result<UniqueFd> openOrCreateInRoot(int rootFd, std::string_view path, NodeKind kind);

// Reads a whole (small) regular file inside the root; `limit` bytes at most.
[[nodiscard]] Result<std::string> readFileInRoot(int rootFd, std::string_view path,
                                                 size_t limit = 16 << 20);

}  // namespace berth::sys
