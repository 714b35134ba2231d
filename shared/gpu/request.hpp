// What a user asks for (--container-gpu, --container-gpu-caps, berth exec --gpu) and what
// Slurm gave the step.
//
// `auto` (the default), precisely:
//   1. The step's environment has SLURM_STEP_GPUS (else SLURM_JOB_GPUS, set in batch scripts):
//      Slurm allocated GPUs through gres. Inject exactly those (none when the list is empty).
//   2. Neither is set: the step has no GPU constraint. Inject every GPU of the node when the
//      node has an NVIDIA driver and GPUs; otherwise inject nothing, silently.
// `all`: like auto, but a node without a driver or GPUs is an error, and so is a Slurm
//   allocation with no GPU. It never widens Slurm's allocation.
// `none`: nothing, even on a GPU node.
// LIST ("0,2"): those GPUs (N of /dev/nvidiaN); each must exist and, under a Slurm GPU
//   allocation, be part of it.
// Slurm's gres indices are taken as device minors: this holds when gres.conf lists
// `File=/dev/nvidia[0-N]` in order (slurm_conf_examples/gres.conf).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"
#include "shared/gpu/capabilities.hpp"

namespace berth::gpu {

struct GpuRequest {
  enum class Mode { kAuto, kAll, kNone, kList };
  Mode mode = Mode::kAuto;
  std::vector<unsigned> indices;  // kList only, sorted, unique
  Capabilities capabilities = defaultCapabilities();
};

// `mode`: "auto" (or empty), "all", "none", or a list "0,1" / "0-3". `caps`: see
// parseCapabilities (empty: compute,utility).
Result<GpuRequest> parseGpuRequest(std::string_view mode, std::string_view caps);

// "0,1,2", "0-3", "1,3-4"; empty means an empty list.
Result<std::vector<unsigned>> parseIndexList(std::string_view text);

// The GPUs Slurm allocated, from the step's environment (`getenv` returns nothing for an unset
// variable); nothing when the step has no GPU constraint (see `auto` above).
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;
Result<std::optional<std::vector<unsigned>>> slurmAllocatedGpus(const EnvLookup& getenv);

std::string formatIndexList(const std::vector<unsigned>& indices);

}  // namespace berth::gpu
