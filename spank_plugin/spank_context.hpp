// What the per-context files (local_side, remote_side, task_side) may ask of Slurm, as plain
// C++: plugin.cpp fills these from spank_getenv/spank_setenv/spank_get_item, unit tests from
// maps. No Slurm header is needed to include this file.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/log.hpp"
#include "shared/core/result.hpp"

namespace berth::spank {

using GetEnv = std::function<std::optional<std::string>(std::string_view)>;

// An environment: the process's (srun), the job's (slurmstepd) or the task's (task_init).
struct Environment {
  GetEnv get;
  std::function<Status(std::string_view name, std::string_view value)> set;
  std::function<Status(std::string_view name)> unset;
  // Every variable as NAME=VALUE (S_JOB_ENV in a task).
  std::function<std::vector<std::string>()> all;
};

// The step being set up, from spank_get_item.
struct StepInfo {
  uint32_t jobId = 0;
  uint32_t stepId = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nodeId = 0;  // 0 on the step's first node
  uint32_t nodeCount = 1;
  std::string nodeName;  // the slurmd's NodeName (%n), see nodeName() in plugin.cpp
  std::string hostName;  // gethostname() (%h)
};

// The variable that carries the digest srun pinned to the slurmstepds of the step:
// "DIGEST IMAGE", IMAGE as the user gave it, so that a stale value for another image is ignored.
inline constexpr std::string_view kPinVariable = "BERTH_CONTAINER_IMAGE_PIN";

}  // namespace berth::spank
