// The plugin's state in one process (srun, sbatch or slurmstepd) across Slurm's callbacks.
// slurmstepd forks the tasks after init_post_opt, so each task inherits the prepared container.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "shared/config/site_config.hpp"
#include "shared/core/error.hpp"
#include "shared/slurm/env_preset.hpp"
#include "spank_plugin/container_backend.hpp"
#include "spank_plugin/options.hpp"

namespace berth::spank {

struct StepState {
  config::SiteConfig site;
  OptionValues options;
  // slurmstepd: a user error found while preparing the step, reported when a task starts
  // (returning it from init_post_opt would drain the node).
  std::optional<Error> deferredError;
  std::optional<Container> container;
  std::vector<std::string> keepFromHost;  // --container-env names
  bool runEntrypoint = false;
  std::optional<std::string> workdir;  // --container-workdir
  std::string launchDir;               // a task's host working directory before entering
  // --container-save: where, and the upper dir that holds the changes.
  std::optional<std::filesystem::path> saveTo;
  std::optional<std::filesystem::path> upperDir;
  bool removeUpperAtExit = false;  // a save-only upper dir (a named one stays for the job)
  uint32_t exitedTasks = 0;        // slurmstepd: tasks of this node that have ended
  // --container-env-preset: the preset and what the node's tasks share (env_preset.hpp).
  slurm::PresetStep envPreset;
  // berth.conf host_slurm: the batch script's PATH ends with the host's Slurm client here.
  std::string hostSlurmBin;
};

}  // namespace berth::spank
