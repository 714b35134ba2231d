// The container's environment (ARCHITECTURE.md, "Environment inside the container"): one
// table and one function for every face (the Slurm task, berth run/exec/shell).
//
// Precedence, lowest first:
//   1. the host environment (srun: the task's, as Slurm built it; CLI: the caller's), except
//      the names the table or berth.conf's host_only_env mark host-only (PATH, LD_*);
//      with --cleanenv only the per-task, identity and session rows of the table pass;
//   2. the image's Env, for the names it sets (PATH falls back to the usual one) — except
//      the per-task variables (SLURM_*, PMIX_*, ...) and the identity (HOME, USER, LOGNAME)
//      the host has: those keep the host's value;
//   2b. a preset's values (Slurm --container-env-preset: MASTER_ADDR, RANK, ...), except
//      where the host environment has the name: a value the user set wins, over the image's
//      too and with --cleanenv as well;
//   3. host values of the names the user gives (--container-env NAME / --env NAME);
//   4. explicit assignments (CLI --env-file, --env NAME=VALUE), in order.
// A built image's %environment script (/.berth/environment) is sourced in the container after
// all this, as a later part of rule 2: it changes what the image's Env may change, and the
// names of namesOverImageScript() are set again after it (entrypoint.hpp).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::container {

using EnvList = std::vector<std::string>;  // "KEY=VALUE" entries, like environ

// What the table says about one variable name.
enum class EnvRole {
  kOrdinary,  // the host's value passes, the image's wins; dropped by --cleanenv
  kHostOnly,  // the host's value never passes (unless the user names it); the image's does
  kPerTask,   // Slurm/PMIx/launcher per-task value: the host's wins over the image's, always
  kIdentity,  // HOME, USER, LOGNAME: the host's wins over the image's, always passes
  kSession,   // TERM, TMPDIR: like ordinary, but kept by --cleanenv
};

// The row for `name`; `siteHostOnly` are berth.conf's extra host-only names.
EnvRole environmentRole(std::string_view name, std::span<const std::string> siteHostOnly = {});

// Whether the host environment passes (rule 1) or only the table's kept rows (--cleanenv).
enum class HostEnvironment { kPass, kClean };

struct EnvironmentOptions {
  HostEnvironment host = HostEnvironment::kPass;
  std::vector<std::string> hostWins;                     // rule 3, names
  std::vector<std::string> siteHostOnly;                 // berth.conf host_only_env
  std::vector<std::pair<std::string, std::string>> set;  // rule 4, in order
  // Rule 2b, in order: a preset's values (the Slurm task's MASTER_ADDR, RANK, ...).
  std::vector<std::pair<std::string, std::string>> preset;
  // The identity inside when the face knows it better than the host environment (berth as
  // root --as-user): "" = the host's HOME / USER and LOGNAME.
  std::string home;
  std::string user;
};

// The environment a container command starts with.
EnvList containerEnvironment(const EnvList& imageEnv, const EnvList& hostEnv,
                             const EnvironmentOptions& options);

// The names whose value containerEnvironment() took from the host or the user rather than the
// image (host per-task and identity values, presets, rules 3 and 4): an image's %environment
// script must not change them.
std::vector<std::string> namesOverImageScript(const EnvList& hostEnv,
                                              const EnvironmentOptions& options);

// `value` as one word of a POSIX shell command line (single quotes; a quote inside as '\'').
std::string shellQuoted(std::string_view value);

// Whether `name` is a shell variable name ([A-Za-z_][A-Za-z0-9_]*).
bool isVariableName(std::string_view name);
// Comma-separated variable names (blanks around each allowed); an empty or bad item is an error.
[[nodiscard]] Result<std::vector<std::string>> parseVariableNames(std::string_view list);
// `K=V` (`K` must be a valid name).
[[nodiscard]] Result<std::pair<std::string, std::string>> parseEnvAssignment(std::string_view text);
// An env file: `K=V` lines, `#` comments, blank lines, an optional leading `export `.
[[nodiscard]] Result<std::vector<std::pair<std::string, std::string>>> parseEnvFile(
    std::string_view content);

// The entry `NAME=VALUE` for `name` in `env`, or nullptr.
const std::string* findEnv(const EnvList& env, std::string_view name);

}  // namespace berth::container
