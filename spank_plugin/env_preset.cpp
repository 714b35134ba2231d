#include "spank_plugin/env_preset.hpp"

#include <fmt/format.h>

#include "shared/slurm/slurmd_paths.hpp"

namespace berth::spank {
namespace {

Result<slurm::EnvPreset> chosenPreset(const StepState& state) {
  if (auto name = state.options.get(OptionId::kEnvPreset))
    return slurm::parseEnvPreset(*name).withContext("--container-env-preset");
  return state.site.envPreset;
}

}  // namespace

void prepareEnvPreset(StepState& state, const StepInfo& step, const Environment& jobEnv,
                      const FirstNodeAddress& firstNodeAddress, const Logger& log) {
  state.envPreset = {};
  if (!state.container || step.stepId == slurm::kBatchStep ||
      step.stepId == slurm::kInteractiveStep)
    return;
  auto fail = [&](Error error) {
    if (!state.deferredError)
      state.deferredError = std::move(error);
    state.container.reset();
  };
  auto preset = chosenPreset(state);
  if (!preset.ok())
    return fail(std::move(preset).error());
  if (*preset == slurm::EnvPreset::kNone)
    return;
  slurm::PresetStep presetStep{.preset = *preset, .jobId = step.jobId, .masterAddr = {}};
  // A MASTER_ADDR the user set wins in every task (environment.hpp, rule 2b): no need to ask.
  if (auto userAddr = jobEnv.get("MASTER_ADDR")) {
    presetStep.masterAddr = *userAddr;
  } else {
    std::optional<std::string> nodes = jobEnv.get("SLURM_STEP_NODELIST");
    if (!nodes)
      return fail(Error("--container-env-preset: SLURM_STEP_NODELIST is not set"));
    auto address = firstNodeAddress(*nodes);
    if (!address.ok())
      return fail(std::move(address).error().withContext("--container-env-preset: MASTER_ADDR"));
    presetStep.masterAddr = std::move(address).value();
  }
  log.verbose("berth: environment preset: MASTER_ADDR={} MASTER_PORT={}", presetStep.masterAddr,
              slurm::masterPort(step.jobId));
  state.envPreset = std::move(presetStep);
}

}  // namespace berth::spank
