// Build scratch: where a build keeps its steps' layers while it runs (berth.conf build_dir, else
// $TMPDIR, else /tmp). Overlayfs needs a local filesystem for its upper directories, and a
// network filesystem would make every step slow: NFS, Lustre and GPFS are refused.
#pragma once

#include <filesystem>
#include <string_view>

#include "shared/core/result.hpp"
#include "shared/core/temp_dir.hpp"

namespace berth::build {

// The name of `dir`'s filesystem when it is a network one berth refuses ("NFS", ...), else
// empty.
[[nodiscard]] Result<std::string_view> networkFilesystemOf(const std::filesystem::path& dir);

// A fresh directory BUILD_DIR/berth-build.XXXXXX (`configured`, else $TMPDIR, else /tmp),
// removed with the returned object.
[[nodiscard]] Result<TempDir> makeBuildScratch(const std::filesystem::path& configured);

}  // namespace berth::build
