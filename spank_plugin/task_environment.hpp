// The Slurm glue of the container's environment: the rules are the shared table
// (shared/container/environment.hpp); here a task's environment is changed in place
// (spank_setenv/unsetenv) to the environment those rules give.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/config/site_config.hpp"
#include "shared/container/environment.hpp"
#include "shared/core/result.hpp"

namespace berth::spank {

// The changes to apply to the task's current environment.
struct EnvironmentChanges {
  std::vector<std::pair<std::string, std::string>> set;  // in this order
  std::vector<std::string> unset;
};

// The shared rules' options for a Slurm task: the --container-env names,
// --container-cleanenv, berth.conf's host-only names.
container::EnvironmentOptions taskEnvironmentOptions(const std::vector<std::string>& keepFromHost,
                                                     bool cleanEnv, const config::SiteConfig& site);

// `host` (the task's environment) and `image` are NAME=VALUE lists.
EnvironmentChanges taskEnvironmentChanges(const std::vector<std::string>& host,
                                          const std::vector<std::string>& image,
                                          const container::EnvironmentOptions& options);

// The final environment those changes give (for tests and for exec'ing an entrypoint).
std::vector<std::string> applyEnvironmentChanges(const std::vector<std::string>& host,
                                                 const EnvironmentChanges& changes);

// Checks --container-env: comma-separated variable names.
Result<std::vector<std::string>> parseEnvironmentNames(std::string_view option);

}  // namespace berth::spank
