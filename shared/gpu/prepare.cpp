#include "shared/gpu/prepare.hpp"

#include <fmt/format.h>

namespace berth::gpu {
namespace {

// The request and Slurm's allocation (none at all where Slurm manages GPUs and gave none).
Result<InjectionInputs> inputsFor(const GpuSetup& setup) {
  InjectionInputs inputs;
  inputs.request = setup.request;
  if (setup.stepEnv) {
    BERTH_ASSIGN(inputs.allocated, slurmAllocatedGpus(setup.stepEnv));
  }
  if (!inputs.allocated && setup.slurmManagesGpus)
    inputs.allocated = std::vector<unsigned>{};
  return inputs;
}

// `auto` for a step Slurm gave no GPU: nothing to inject, and no driver to look up.
bool noGpuAllocated(const InjectionInputs& inputs) {
  return inputs.allocated && inputs.allocated->empty() &&
         inputs.request.mode == GpuRequest::Mode::kAuto;
}

}  // namespace

Result<std::optional<DriverInfo>> discoverDriverFor(const GpuSetup& setup) {
  auto discover = [&]() -> Result<std::optional<DriverInfo>> {
    BERTH_ASSIGN(InjectionInputs inputs, inputsFor(setup));
    if (inputs.request.mode == GpuRequest::Mode::kNone || noGpuAllocated(inputs))
      return std::optional<DriverInfo>();
    DriverSearch search = setup.search;
    if (auto pipes = setup.stepEnv ? setup.stepEnv("CUDA_MPS_PIPE_DIRECTORY") : std::nullopt)
      search.mpsPipeDirectory = *pipes;
    return discoverDriver(search);
  };
  return discover().withContext("GPU");
}

Result<GpuInjection> prepareGpuInjection(const GpuSetup& setup,
                                         const std::optional<DriverInfo>& driver) {
  auto prepare = [&]() -> Result<GpuInjection> {
    BERTH_ASSIGN(InjectionInputs inputs, inputsFor(setup));
    if (noGpuAllocated(inputs)) {
      GpuInjection none;
      none.reason = kNoGpuAllocated;
      return none;
    }
    BERTH_ASSIGN(GpuSelection selection, selectGpus(driver, inputs.request, inputs.allocated));
    if (selection.gpus.empty())
      return planInjection(driver, inputs);

    if (!setup.imageRoot.empty()) {
      BERTH_ASSIGN(inputs.imageFiles, scanImageCuda(setup.imageRoot));
    }
    BERTH_ASSIGN(inputs.image,
                 cudaRequirementOf(setup.imageEnv, setup.imageLabels, inputs.imageFiles.cudart));
    const DriverFile* libcuda = driver->find("libcuda.so");
    if (inputs.image.minimum && !inputs.image.checkDisabled && libcuda != nullptr)
      inputs.driverCuda = probeDriverCudaVersion(libcuda->hostPath);
    return planInjection(driver, inputs);
  };
  return prepare().withContext("GPU");
}

Result<GpuInjection> prepareGpuInjection(const GpuSetup& setup) {
  BERTH_ASSIGN(std::optional<DriverInfo> driver, discoverDriverFor(setup));
  return prepareGpuInjection(setup, driver);
}

}  // namespace berth::gpu
