// Whether a path can be changed by anyone but its trusted owners: the check root-side code
// makes before it believes a file (berth.conf) or a directory (the site image cache), as sshd's
// StrictModes and sudo's sudoers checks do.
//
// A path is trusted when every component, from `/` down to the path itself, is owned by a
// trusted owner (root, or the extra owner given) and no one else can write it. A world- or
// group-writable directory with the sticky bit (/tmp, /var/tmp) is accepted above the path:
// there only an entry's owner may rename or remove it, and the entries below are checked in
// turn. Symbolic links met on the way are followed after their own directory was checked, and
// the directories of their targets are checked the same way.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>

#include "shared/core/result.hpp"

namespace berth::sys {

struct TrustedOwners {
  // Besides root: e.g. the service account that owns a site cache on a root-squashed
  // filesystem (berth.conf `cache_owner`).
  std::optional<uid_t> extra;

  bool trusts(uid_t uid) const { return uid == 0 || (extra && *extra == uid); }
};

// Ok when no one but `owners` can change `path` (which must exist) or any directory above it;
// else one line naming the component, its owner and mode ("`/etc/berth` is writable by its
// group (mode 0775)").
[[nodiscard]] Status checkTrustedPath(const std::filesystem::path& path,
                                      const TrustedOwners& owners = {});

}  // namespace berth::sys
