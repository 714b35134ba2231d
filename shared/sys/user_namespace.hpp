// User and mount namespaces.
#pragma once

#include <sys/types.h>

#include "shared/core/result.hpp"

namespace berth::sys {

// unshare(CLONE_NEWUSER | CLONE_NEWNS) and map the caller's uid and gid to themselves (the
// only mapping an unprivileged process may write; setgroups is denied as the kernel requires).
// The process keeps full capabilities inside the new namespaces until it execs.
[[nodiscard]] Status enterUserNamespaceAsSelf(uid_t uid, gid_t gid);

// unshare(CLONE_NEWNS).
[[nodiscard]] Status enterMountNamespace();

// setns(fd, nstype).
[[nodiscard]] Status joinNamespace(int fd, int nstype);

}  // namespace berth::sys
