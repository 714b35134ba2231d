// Reading the small files of /.berth/ from an image without mounting it: libsquashfs for a
// squashfs file (works for any user, no FUSE, no root), openat2 inside a sandbox directory.
// Neither follows symlinks: metadata files must be regular files.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "shared/container/image_source.hpp"

namespace berth::container {

// The content of `path` (relative to the image root), std::nullopt when it does not exist.
[[nodiscard]] Result<std::optional<std::string>> readImageFile(const ImageLocation& image,
                                                               std::string_view path,
                                                               size_t limit = 16 << 20);

}  // namespace berth::container
