#include "shared/sys/identity.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

namespace berth::sys {
namespace {

Result<Identity> fromPasswd(const passwd& entry) {
  Identity id;
  id.uid = entry.pw_uid;
  id.gid = entry.pw_gid;
  id.name = entry.pw_name;
  id.gecos = entry.pw_gecos ? entry.pw_gecos : "";
  id.home = entry.pw_dir ? entry.pw_dir : "/";
  id.shell = entry.pw_shell ? entry.pw_shell : "/bin/sh";
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  while (::getgrouplist(entry.pw_name, entry.pw_gid, groups.data(), &count) < 0)
    groups.resize(static_cast<size_t>(count));
  groups.resize(static_cast<size_t>(count));
  id.groups = std::move(groups);
  std::vector<char> buffer(16384);
  group grp{};
  group* found = nullptr;
  if (::getgrgid_r(id.gid, &grp, buffer.data(), buffer.size(), &found) == 0 && found)
    id.groupName = found->gr_name;
  else
    id.groupName = std::to_string(id.gid);
  return id;
}

// The raw system calls change only the calling thread; glibc's wrappers change every thread,
// which would be wrong inside a multi-threaded caller such as slurmstepd.
int threadSetgroups(const std::vector<gid_t>& groups) {
  return static_cast<int>(::syscall(SYS_setgroups, groups.size(), groups.data()));
}

}  // namespace

Result<Identity> lookupIdentity(uid_t uid) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  int rc = ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0)
    return Error::fromErrno(rc, fmt::format("look up uid {}", uid));
  if (!found)
    return Error(fmt::format("uid {} has no entry in the user database", uid));
  return fromPasswd(entry);
}

Result<Identity> lookupIdentity(const std::string& name) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  int rc = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0)
    return Error::fromErrno(rc, fmt::format("look up user `{}`", name));
  if (!found)
    return Error(fmt::format("no user `{}`", name));
  return fromPasswd(entry);
}

Result<FsIdentityScope> FsIdentityScope::assume(const Identity& user) {
  FsIdentityScope scope;
  if (::geteuid() != 0 || user.uid == 0)
    return scope;
  int count = ::getgroups(0, nullptr);
  scope.savedGroups_.resize(static_cast<size_t>(count > 0 ? count : 0));
  if (count > 0 && ::getgroups(count, scope.savedGroups_.data()) < 0)
    return errnoError("getgroups");
  scope.savedUid_ = ::geteuid();
  scope.savedGid_ = ::getegid();
  if (threadSetgroups(user.groups) != 0)
    return errnoError("set the user's groups");
  scope.active_ = true;
  ::setfsgid(user.gid);
  ::setfsuid(user.uid);
  if (static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1))) != user.uid)
    return Error(fmt::format("could not switch the file-system identity to uid {}", user.uid));
  return scope;
}

FsIdentityScope::FsIdentityScope(FsIdentityScope&& other) noexcept
    : active_(std::exchange(other.active_, false)),
      savedUid_(other.savedUid_),
      savedGid_(other.savedGid_),
      savedGroups_(std::move(other.savedGroups_)) {}

FsIdentityScope::~FsIdentityScope() {
  if (!active_)
    return;
  ::setfsuid(savedUid_);
  ::setfsgid(savedGid_);
  (void)threadSetgroups(savedGroups_);
}

Status dropPrivileges(const Identity& user) {
  if (::getuid() == user.uid && ::geteuid() == user.uid)
    return okStatus();
  if (threadSetgroups(user.groups) != 0)
    return errnoError("set supplementary groups");
  if (::setresgid(user.gid, user.gid, user.gid) != 0)
    return errnoError(fmt::format("set gid {}", user.gid));
  if (::setresuid(user.uid, user.uid, user.uid) != 0)
    return errnoError(fmt::format("set uid {}", user.uid));
  if (user.uid != 0 && ::setuid(0) == 0)
    return Error("privileges could be regained after dropping them");
  return okStatus();
}

Status setNoNewPrivileges() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return errnoError("set no_new_privs");
  return okStatus();
}

}  // namespace berth::sys
