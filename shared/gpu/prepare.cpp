#include "shared/gpu/prepare.hpp"

#include <fmt/format.h>

namespace berth::gpu {

Result<GpuInjection> prepareGpuInjection(const GpuSetup& setup) {
  auto prepare = [&]() -> Result<GpuInjection> {
    DriverSearch search = setup.search;
    if (auto pipes = setup.stepEnv ? setup.stepEnv("CUDA_MPS_PIPE_DIRECTORY") : std::nullopt)
      search.mpsPipeDirectory = *pipes;
    InjectionInputs inputs;
    inputs.request = setup.request;
    if (setup.stepEnv) {
      BERTH_ASSIGN(inputs.allocated, slurmAllocatedGpus(setup.stepEnv));
    }
    if (!inputs.allocated && setup.slurmManagesGpus)
      inputs.allocated = std::vector<unsigned>{};
    if (inputs.allocated && inputs.allocated->empty() &&
        setup.request.mode == GpuRequest::Mode::kAuto) {
      GpuInjection none;  // no GPU for this step: no driver to look up
      none.reason = kNoGpuAllocated;
      return none;
    }
    std::optional<DriverInfo> driver;
    if (setup.request.mode != GpuRequest::Mode::kNone) {
      BERTH_ASSIGN(driver, discoverDriver(search));
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

}  // namespace berth::gpu
