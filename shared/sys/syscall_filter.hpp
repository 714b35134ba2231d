// Seccomp filters, compiled where libraries may be loaded (libseccomp, opened at run time) and
// installed later with one system call: in a child forked from a multi-threaded process
// (slurmstepd's tasks) no library is loaded after the fork.
#pragma once

#include <linux/filter.h>

#include <vector>

#include "shared/core/result.hpp"

namespace berth::sys {

// A classic BPF seccomp program.
struct SyscallFilter {
  std::vector<sock_filter> program;
};

// The "single" identity mode's filter (one id mapped: root inside is the user outside). The
// calls that only make sense with more ids succeed without doing anything, as Charliecloud's
// and enroot's do, so that package managers and installers run: the chown family (chown,
// fchown, lchown, fchownat), the set*id family (setuid, setgid, setreuid, setregid, setresuid,
// setresgid, setfsuid, setfsgid), setgroups, capset, and mknod/mknodat of character and block
// devices (fifos, sockets and files are still made). The 32-bit variants are covered on
// architectures that have them. Everything else passes through.
[[nodiscard]] Result<SyscallFilter> fakeOwnershipFilter();

// Installs `filter` in the calling thread (needs no_new_privs or CAP_SYS_ADMIN). Safe in a
// forked child: one prctl, no allocation.
[[nodiscard]] Status installSyscallFilter(const SyscallFilter& filter);

}  // namespace berth::sys
