// Sandboxes (BUILD.md "Sandboxes"): a directory tree used as a container's root, changed in
// place with --writable (image_source.hpp: ImageLocation::inPlace), and always removable by its
// owner.
//
// What keeps it removable: every file written in it belongs to its owner on the host (root
// inside a user namespace maps to the owner alone: the single identity mode; subordinate ids
// would leave files the owner cannot delete), and once the command ends its directories the
// owner owns get the owner's write and search permission back (a `chmod 0555` inside would
// otherwise stop `rm -rf`).
#pragma once

#include <sys/types.h>

#include <filesystem>

#include "shared/container/identity_mode.hpp"
#include "shared/core/result.hpp"

namespace berth::container {

// --fakeroot on a sandbox changed in place: auto means single, subuid is refused (its files of
// subordinate ids could not be removed by the owner); other containers keep `choice`.
[[nodiscard]] Result<UsernsChoice> sandboxUsernsChoice(UsernsChoice choice, bool inPlace);

struct RemovableFix {
  size_t directories = 0;  // directories given u+rwx
};

// Gives `owner` write and search permission (u+rwx) on every directory of the tree at `dir`
// that `owner` owns and lacks it. Symlinks are not followed and other file systems mounted
// below are not entered; entries of other users are left as they are.
[[nodiscard]] Result<RemovableFix> makeSandboxRemovable(const std::filesystem::path& dir,
                                                        uid_t owner);

}  // namespace berth::container
