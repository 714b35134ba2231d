// User and mount namespaces, and the id maps of a user namespace.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::sys {

// unshare(CLONE_NEWUSER | CLONE_NEWNS) and map the caller's uid and gid to themselves (the
// only mapping an unprivileged process may write; setgroups is denied as the kernel requires).
// The process keeps full capabilities inside the new namespaces until it execs.
[[nodiscard]] Status enterUserNamespaceAsSelf(uid_t uid, gid_t gid);

// unshare(CLONE_NEWUSER) alone: the namespace has no map until another process writes it
// (writeIdMaps); its owner is the caller's effective uid, so the caller's later processes may
// join it (setns) without privileges.
[[nodiscard]] Status enterUserNamespace();

// unshare(CLONE_NEWNS).
[[nodiscard]] Status enterMountNamespace();

// setns(fd, nstype).
[[nodiscard]] Status joinNamespace(int fd, int nstype);

// One line of /proc/PID/uid_map or gid_map: `count` ids from `inside` map to host ids from
// `outside`.
struct IdRange {
  uint32_t inside = 0;
  uint32_t outside = 0;
  uint32_t count = 0;
  bool operator==(const IdRange&) const = default;
};

// The maps of one user namespace.
struct IdMaps {
  std::vector<IdRange> uids;
  std::vector<IdRange> gids;
  // /proc/PID/setgroups = deny: nobody inside may change the supplementary groups (required
  // for an unprivileged single-id map; chosen for it when root writes the same map, so that
  // dropping a group cannot open what the group was denied).
  bool denySetgroups = false;
  bool operator==(const IdMaps&) const = default;
};

// The text of a map file: "INSIDE OUTSIDE COUNT\n" per range.
std::string idMapText(const std::vector<IdRange>& ranges);

// Who writes the maps of a namespace the caller's child created.
enum class MapWriter {
  kDirect,         // the caller writes /proc/PID/{setgroups,uid_map,gid_map} itself
  kSetuidHelpers,  // newuidmap/newgidmap (package uidmap) write them, checking /etc/subuid
};

// kDirect when the kernel lets a process with these effective ids write `maps` (root; or one
// uid and one gid, each mapping the process's own id, with setgroups denied), else the helpers.
MapWriter mapWriterFor(const IdMaps& maps, uid_t euid, gid_t egid);

// Where newuidmap and newgidmap are (PATH, then /usr/bin, /usr/sbin, /bin, /sbin); an error
// naming the package when either is missing.
struct MapHelpers {
  std::filesystem::path newuidmap;
  std::filesystem::path newgidmap;
};
[[nodiscard]] Result<MapHelpers> findMapHelpers();

// Writes the maps of `pid`, a child that has just created a user namespace and waits for them,
// the way mapWriterFor() says for this process. Helper failures carry the helper's own message.
[[nodiscard]] Status writeIdMaps(pid_t pid, const IdMaps& maps);

}  // namespace berth::sys
