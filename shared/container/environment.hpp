// The container's environment (ARCHITECTURE.md, "Environment inside the container").
//
// Precedence, lowest first:
//   1. defaults: PATH (when the image sets none), HOME, USER, LOGNAME of the invoking user
//   2. the image's Env
//   3. terminal/session variables of the host (TERM, COLORTERM, DISPLAY; not with --cleanenv)
//   4. launcher variables of the host: SLURM_*, PMIX_*, PMI_*, OMPI_* (always)
//   5. host variables the user names (--host-env NAME; the SPANK --container-env)
//   6. --env-file entries, then --env K=V
// Host PATH, LD_LIBRARY_PATH and LD_PRELOAD never pass by rules 3-4; only by naming them (5).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::container {

using EnvList = std::vector<std::string>;  // "KEY=VALUE" entries, like environ

struct EnvironmentOptions {
  bool cleanEnv = false;                                 // drop rule 3
  std::vector<std::string> hostNames;                    // rule 5
  std::vector<std::pair<std::string, std::string>> set;  // rule 6, in order
  std::string home;                                      // HOME inside ("" = leave alone)
  std::string user;                                      // USER/LOGNAME
};

// The environment a container command starts with.
EnvList containerEnvironment(const EnvList& imageEnv, const EnvList& hostEnv,
                             const EnvironmentOptions& options);

// `K=V` (`K` must be a valid name).
[[nodiscard]] Result<std::pair<std::string, std::string>> parseEnvAssignment(std::string_view text);
// An env file: `K=V` lines, `#` comments, blank lines, an optional leading `export `.
[[nodiscard]] Result<std::vector<std::pair<std::string, std::string>>> parseEnvFile(
    std::string_view content);

// The value of `name` in `env`, or nullptr.
const std::string* findEnv(const EnvList& env, std::string_view name);

}  // namespace berth::container
