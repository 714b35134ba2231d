// The environment a containerized task gets (ARCHITECTURE.md, "Environment inside the
// container"): the image's Env first; then the per-task variables of Slurm, PMIx and the MPI
// launchers from the host; then the host values of the names given with --container-env.
// Host PATH, LD_LIBRARY_PATH and LD_PRELOAD never pass: they point at host libraries.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::spank {

// The changes to apply to the task's current environment.
struct EnvironmentChanges {
  std::vector<std::pair<std::string, std::string>> set;  // in this order
  std::vector<std::string> unset;
};

// `host` and `image` are NAME=VALUE lists; `keepFromHost` the --container-env names.
EnvironmentChanges taskEnvironmentChanges(const std::vector<std::string>& host,
                                          const std::vector<std::string>& image,
                                          const std::vector<std::string>& keepFromHost);

// The final environment those changes give (for tests and for exec'ing an entrypoint).
std::vector<std::string> applyEnvironmentChanges(const std::vector<std::string>& host,
                                                 const EnvironmentChanges& changes);

// Checks --container-env: comma-separated variable names, none of the never-passed ones.
Result<std::vector<std::string>> parseEnvironmentNames(std::string_view option);

// True for variables that never pass from the host (PATH, LD_LIBRARY_PATH, LD_PRELOAD).
bool isHostOnlyVariable(std::string_view name);

}  // namespace berth::spank
