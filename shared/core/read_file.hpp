// Reading a whole file that must be a regular file of bounded size (a config file, a small
// image blob): a path naming a device, a FIFO or a directory is one clear error instead of a
// hang or an empty read.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "shared/core/result.hpp"

namespace berth {

// The contents of the regular file at `path`, at most `limit` bytes (larger is an error). A
// missing file keeps ENOENT as the error's errnum.
[[nodiscard]] Result<std::string> readRegularFile(const std::filesystem::path& path, size_t limit);

// A whole file of any size that berth or the kernel wrote (/proc, /.berth metadata, the cache
// index, ld.so.cache): readRegularFile() without a limit of its own.
[[nodiscard]] Result<std::string> readWholeFile(const std::filesystem::path& path);

}  // namespace berth
