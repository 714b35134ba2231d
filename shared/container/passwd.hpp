// /etc/passwd and /etc/group for the container: the image's own files with the invoking
// user's entries added (never the host's whole files), so `id`, `whoami` and `ls -l` work.
#pragma once

#include <string>
#include <string_view>

#include "shared/sys/identity.hpp"

namespace berth::container {

// The image's passwd with any entry of the same name or uid replaced by the user's.
// The user's login shell is kept only when `shellExists` says the image has it; else /bin/sh.
std::string mergePasswd(std::string_view imagePasswd, const sys::Identity& user, bool shellExists);

// The image's group file plus the user's primary group when the image lacks that gid.
std::string mergeGroup(std::string_view imageGroup, const sys::Identity& user);

}  // namespace berth::container
