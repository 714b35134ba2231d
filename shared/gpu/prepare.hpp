// One call for the runtime and the SPANK plugin: discover the driver, select GPUs, check CUDA,
// and return the plan (injection.hpp says how to apply it).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shared/core/result.hpp"
#include "shared/gpu/injection.hpp"

namespace berth::gpu {

struct GpuSetup {
  DriverSearch search;
  GpuRequest request;
  EnvLookup stepEnv;  // the step's (or the user's) environment: SLURM_*_GPUS, CUDA_MPS_*
  // Slurm manages the node's GPUs (slurm.conf GresTypes lists gpu): a step without a GPU
  // allocation gets none, as Slurm would let it use none.
  bool slurmManagesGpus = false;
  std::vector<std::string> imageEnv;               // the image config's Env
  std::map<std::string, std::string> imageLabels;  // the image config's Labels
  std::filesystem::path
      imageRoot;  // the mounted image, for libcudart and compat libs; may be empty
};

// The driver the setup needs: nothing (without an error) when it cannot inject any GPU (none;
// auto for a step Slurm gave no GPU) or the node has no NVIDIA driver.
Result<std::optional<DriverInfo>> discoverDriverFor(const GpuSetup& setup);

// The plan with `driver` from discoverDriverFor(setup): a disabled plan when nothing is to be
// injected; the child-process CUDA probe runs only when the image states a CUDA version and
// GPUs are injected. Callers that plan twice (before and after mounting the image) discover
// once.
Result<GpuInjection> prepareGpuInjection(const GpuSetup& setup,
                                         const std::optional<DriverInfo>& driver);

// discoverDriverFor() and prepareGpuInjection() in one.
Result<GpuInjection> prepareGpuInjection(const GpuSetup& setup);

}  // namespace berth::gpu
