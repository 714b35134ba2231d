// Environment presets (--container-env-preset, berth.conf env_preset): the variables a
// distributed-training launcher would set, derived from Slurm's task layout so that programs
// written for it (torch.distributed's env:// rendezvous, torchrun-style scripts) run unchanged
// as plain srun tasks, one process per task. The table (env_preset.cpp) is the one place that
// says which variable comes from where; shared/container/environment.hpp says how they rank
// against the host's and the image's values (a value the user set wins).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::slurm {

enum class EnvPreset {
  kNone,     // nothing added (also turns a site default off)
  kPyTorch,  // MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, NODE_RANK
};

// "pytorch" or "none".
Result<EnvPreset> parseEnvPreset(std::string_view name);

// MASTER_PORT: deterministic per job, so every task of every node computes the same one
// without talking to the others: kMasterPortBase + job id % kMasterPortCount, i.e.
// 20000..29999: unprivileged, and below Linux's default ephemeral range (32768..60999), so an
// outgoing connection of some other process never holds it by chance. Two steps of one job
// running at the same time on the same first node need their own MASTER_PORT (set it).
inline constexpr uint32_t kMasterPortBase = 20000;
inline constexpr uint32_t kMasterPortCount = 10000;
uint32_t masterPort(uint32_t jobId);

// What one node of the step knows once for all its tasks.
struct PresetStep {
  EnvPreset preset = EnvPreset::kNone;
  uint32_t jobId = 0;
  // The step's first node (SLURM_NODEID 0) as the nodes reach each other: its NodeAddr.
  std::string masterAddr;
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;
using EnvAssignments = std::vector<std::pair<std::string, std::string>>;

// The preset's variables for one task, from the task's Slurm variables (`task`: SLURM_PROCID,
// SLURM_LOCALID, SLURM_NODEID, SLURM_STEP_NUM_TASKS, SLURM_STEP_TASKS_PER_NODE). A variable
// Slurm did not set is an error naming it.
Result<EnvAssignments> presetEnvironment(const PresetStep& step, const EnvLookup& task);

// The number of tasks on node `nodeId` from Slurm's tasks-per-node notation, "2(x3),1" (three
// nodes with 2 tasks, then one with 1), as in SLURM_STEP_TASKS_PER_NODE.
Result<uint32_t> tasksOnNode(std::string_view tasksPerNode, uint32_t nodeId);

}  // namespace berth::slurm
