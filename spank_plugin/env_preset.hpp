// --container-env-preset in slurmstepd, once per node per step: which preset the step's tasks
// get (the option, else berth.conf env_preset) and what every task of the node shares (the
// step's first node as MASTER_ADDR). task_side.cpp turns it into each task's variables with
// shared/slurm/env_preset.hpp.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "shared/core/log.hpp"
#include "shared/core/result.hpp"
#include "spank_plugin/spank_context.hpp"
#include "spank_plugin/step_state.hpp"

namespace berth::spank {

// The address of the first node of a Slurm node list ("node[1-2]"), as the nodes reach each
// other (plugin.cpp: libslurm's hostlist and the node's NodeAddr from slurmctld).
using FirstNodeAddress = std::function<Result<std::string>(std::string_view nodeList)>;

// Fills state.envPreset for a containerized step. Never fails: a bad preset name or a node
// list without an address becomes the step's deferred error (reported when the tasks start).
// The batch and interactive steps get no preset: their one task's values would pass into the
// steps started from them and win there as values the user set.
void prepareEnvPreset(StepState& state, const StepInfo& step, const Environment& jobEnv,
                      const FirstNodeAddress& firstNodeAddress, const Logger& log);

}  // namespace berth::spank
