// The scaffold: a throw-away layer between the image and the container's own layer (BUILD.md),
// made in the staging area before the overlay is mounted (MountPlan::scaffold). It holds what
// the container needs but the image must not get: the single identity mode's apt setting, and
// root-owned copies of entries that mode cannot map (identity_mode.hpp). Nothing of it reaches
// the container's own layer unless the command changes it.
#pragma once

#include <filesystem>
#include <vector>

#include "shared/container/mount_plan.hpp"
#include "shared/core/result.hpp"

namespace berth::container {

// Makes `entries` under `dir`, reading the image open as `lowerFd`: only where the image has
// the entry's directory as a real directory (no symlink on the way: a directory of the scaffold
// would hide it); the directories on the way get the image's modes (the merged view takes a
// directory's attributes from the topmost layer). Returns whether it made anything.
[[nodiscard]] Result<bool> makeScaffold(const std::vector<ScaffoldEntry>& entries, int lowerFd,
                                        const std::filesystem::path& dir);

}  // namespace berth::container
