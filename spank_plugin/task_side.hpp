// Each task of a containerized step, in the forked task process:
//   task_init_privileged (root): report a deferred error, setns() into the step's mount
//     namespace, no_new_privs;
//   task_init (the user, just before Slurm execs the command): chdir to the working directory
//     (Slurm changes directory between the two callbacks), the container's environment, and
//     the image's entrypoint when asked for (exec'd here, with the command as arguments).
// Slurm then execs the command itself, looking it up in the container's PATH.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"
#include "spank_plugin/spank_context.hpp"
#include "spank_plugin/step_state.hpp"

namespace berth::spank {

Status enterContainer(StepState& state);

// `argv` is the task's command (S_JOB_ARGV). Returns only on error when an entrypoint runs.
Status prepareTaskEnvironment(const StepState& state, const Environment& taskEnv,
                              const std::vector<std::string>& argv);

// Where a task starts: --container-workdir (must exist), else the directory the user launched
// from when it exists in the container (home and binds are at the same paths), else the
// image's WorkingDir, else `/`. `exists` looks inside the container.
Result<std::string> chooseWorkdir(const std::optional<std::string>& option,
                                  const std::string& launchDir, const std::string& imageWorkdir,
                                  const std::function<bool(const std::string&)>& exists);

// The command line to exec for an image entrypoint: ENTRYPOINT + the task's command.
std::vector<std::string> entrypointCommand(const std::vector<std::string>& entrypoint,
                                           const std::vector<std::string>& argv);

// Finds `command` in `path` (a PATH value) as execvp would; a name with `/` is kept.
std::optional<std::string> findInPath(const std::string& command, std::string_view path,
                                      const std::function<bool(const std::string&)>& executable);

}  // namespace berth::spank
