// Who a container runs as, and the privilege changes around it: checking host paths with the
// user's file-system identity (fsuid/fsgid, per thread), and dropping to the user before exec.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::sys {

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
  std::string name;
  std::string gecos;
  std::filesystem::path home;
  std::string shell;
  std::string groupName;  // name of the primary group
};

// From the host's user database (getpwuid_r, getgrouplist).
[[nodiscard]] Result<Identity> lookupIdentity(uid_t uid);
[[nodiscard]] Result<Identity> lookupIdentity(const std::string& name);

// While alive, this thread's file-system identity is the user's: fsuid, fsgid and (per-thread)
// supplementary groups. Opens made meanwhile succeed only where the user could open. Restores
// root's identity when destroyed. A no-op when the process is not root or the user is root.
class FsIdentityScope {
 public:
  [[nodiscard]] static Result<FsIdentityScope> assume(const Identity& user);
  FsIdentityScope(FsIdentityScope&& other) noexcept;
  FsIdentityScope& operator=(FsIdentityScope&&) = delete;
  FsIdentityScope(const FsIdentityScope&) = delete;
  ~FsIdentityScope();

 private:
  FsIdentityScope() = default;
  bool active_ = false;
  uid_t savedUid_ = 0;
  gid_t savedGid_ = 0;
  std::vector<gid_t> savedGroups_;
};

// Sets groups, gid and uid to the user's for good (root only; checks it cannot be undone).
// When the process already runs as `user` (unprivileged mode) nothing changes.
[[nodiscard]] Status dropPrivileges(const Identity& user);

// prctl(PR_SET_NO_NEW_PRIVS): setuid bits and file capabilities no longer raise privileges.
[[nodiscard]] Status setNoNewPrivileges();

}  // namespace berth::sys
