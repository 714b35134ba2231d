// The process's own environment, looked up by name: one helper for every caller that reads it
// (the berth tool, srun's side of the plugin). slurmstepd reads the job's environment through
// Slurm instead, never its own.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace berth {

// The value of `name` in this process's environment; nothing when it is unset.
std::optional<std::string> processEnv(std::string_view name);

}  // namespace berth
