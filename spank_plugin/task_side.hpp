// Each task of a containerized step, in the forked task process:
//   task_init_privileged (root): report a deferred error, setns() into the step's mount
//     namespace, no_new_privs;
//   task_init (the user, just before Slurm execs the command): chdir to the working directory
//     (Slurm changes directory between the two callbacks), the container's environment, and
//     the image's entrypoint when asked for (exec'd here, with the command as arguments).
// Slurm then execs the command itself, looking it up in the container's PATH.
#pragma once

#include <string>
#include <vector>

#include "shared/core/result.hpp"
#include "spank_plugin/spank_context.hpp"
#include "spank_plugin/step_state.hpp"

namespace berth::spank {

Status enterContainer(StepState& state);

// `argv` is the task's command (S_JOB_ARGV). Returns only on error when an entrypoint runs.
Status prepareTaskEnvironment(const StepState& state, const Environment& taskEnv,
                              const std::vector<std::string>& argv);

}  // namespace berth::spank
