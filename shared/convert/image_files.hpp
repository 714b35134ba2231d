// Reading the small files of /.berth/ from an image without mounting it: libsquashfs for a
// squashfs file (works for any user, no FUSE, no root), openat2 inside a sandbox directory.
// Neither follows symlinks: metadata files must be regular files.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "shared/container/image_source.hpp"

namespace berth::convert {

// The largest image config (/.berth/config.json) berth reads. Real configs reach a few MiB
// (thousands of history entries or layers, big Env values); only a runaway file is refused.
// Keep in sync with docs/running.md ("Large image configs").
inline constexpr size_t kMaxImageConfigBytes = size_t{32} << 20;

// What a file that is not a whole squashfs image is called (checkSquashfsFile, and below).
inline constexpr std::string_view kNotSquashfsImage = "not a squashfs image (corrupt or truncated)";

// Ok when `imageFd` (the squashfs file `path`, open for reading) starts with a squashfs 4.0
// superblock whose tables lie inside the file; else "`path` is not a squashfs image (corrupt
// or truncated)". Run before the image is mounted or served: the kernel and libsquashfuse
// find a truncated image only on first access (a missing command, a library's line on stderr).
[[nodiscard]] Status checkSquashfsImage(int imageFd, const std::filesystem::path& path);

// The content of `path` (relative to the image root), std::nullopt when it does not exist.
[[nodiscard]] Result<std::optional<std::string>> readImageFile(
    const container::ImageLocation& image, std::string_view path, size_t limit = 16 << 20);

}  // namespace berth::convert
