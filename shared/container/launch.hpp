// Starting a command inside a prepared container: a forked child joins the namespaces,
// changes to the working directory, drops to the user, sets no_new_privs and execs.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "shared/container/container_namespace.hpp"
#include "shared/container/environment.hpp"
#include "shared/sys/identity.hpp"

namespace berth::container {

struct LaunchSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in the container's PATH
  EnvList env;
  std::string workingDir = "/";
  // Shell mode: when argv[0] is missing, these are tried in order instead.
  std::vector<std::string> fallbacks;
};

// Forks, enters `container`, and execs. Returns once the exec succeeded (the child's pid) or
// failed (the error, e.g. "command `foo` not found in the image"; the child is reaped).
[[nodiscard]] Result<pid_t> spawnInContainer(const PreparedContainer& container,
                                             const sys::Identity& user, const LaunchSpec& spec);

}  // namespace berth::container
