// Starting a command inside a prepared container: a forked child joins the namespaces,
// changes to the working directory, drops to the user, sets no_new_privs and execs.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/container/container_namespace.hpp"
#include "shared/container/environment.hpp"
#include "shared/sys/identity.hpp"
#include "shared/sys/syscall_filter.hpp"

namespace berth::container {

// The PATH a command is looked up in when the container's environment sets none.
inline constexpr std::string_view kDefaultSearchPath = "/usr/bin:/bin";

// Where `command` is looked for, in order, as execvp does: a name with a `/` as it is, else in
// each directory of `path` (a PATH value; an empty entry is the current directory).
std::vector<std::string> commandCandidates(const std::string& command, std::string_view path);

// The first of commandCandidates() that `executable` accepts (the Slurm task checks before
// Slurm execs; spawnInContainer execs each in turn).
std::optional<std::string> findInPath(const std::string& command, std::string_view path,
                                      const std::function<bool(const std::string&)>& executable);

struct LaunchSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in the container's PATH
  EnvList env;
  std::string workingDir = "/";
  // Shell mode: when argv[0] is missing, these are tried in order instead.
  std::vector<std::string> fallbacks;
  // Installed right before exec (BuiltContainer::syscallFilter: the single identity mode).
  std::optional<sys::SyscallFilter> syscallFilter;
  // Root inside mapped to this user (BuiltContainer::joinAs): the child becomes the user on
  // the host first, for good (root's groups must not come along), then joins the user's
  // namespace as its owner.
  std::optional<sys::Identity> joinAs;
};

// Forks, enters `container`, becomes `user` (BuiltContainer::runAs: root inside in a root mode)
// and execs. Returns once the exec succeeded (the child's pid) or failed (the error, e.g.
// "command `foo` not found in the image"; the child is reaped).
[[nodiscard]] Result<pid_t> spawnInContainer(const PreparedContainer& container,
                                             const sys::Identity& user, const LaunchSpec& spec);

}  // namespace berth::container
