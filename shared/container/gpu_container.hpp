// GPUs in a container, in two phases around prepareContainerNamespace(), for `berth exec --gpu`
// and the SPANK plugin's --container-gpu alike:
//
//   ContainerGpu gpu;
//   BERTH_ASSIGN(gpu, addGpuToPlan(plan, setup));          // discover, select, add the mounts
//   BERTH_ASSIGN(auto container, prepareContainerNamespace(plan, user));
//   ... the command's environment `env` (image Env + the user's settings) ...
//   BERTH_ASSIGN(env, checkGpuAndEnvironment(gpu, container, imageLabels, env));
//
// The CUDA check needs the image's files, so it runs on the mounted container (its root fd) in
// the second phase; it fails with one line before any command starts.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shared/container/container_namespace.hpp"
#include "shared/container/environment.hpp"
#include "shared/container/mount_plan.hpp"
#include "shared/core/result.hpp"
#include "shared/gpu/prepare.hpp"

namespace berth::container {

struct ContainerGpu {
  gpu::GpuSetup setup;                    // without the image (phase 1)
  std::optional<gpu::DriverInfo> driver;  // discovered once, in phase 1
  gpu::GpuInjection injection;            // what was added to the plan; disabled: nothing to do
};

// Where to look for the driver: the host's defaults, or everything under `driverRoot` (tests:
// a fake tree; config key gpu_driver_root); `libraryDirs` (gpu_library_dirs) are searched
// before the defaults.
gpu::DriverSearch driverSearchFor(const std::filesystem::path& driverRoot,
                                  const std::vector<std::filesystem::path>& libraryDirs);

// Phase 1: the driver discovered and the GPUs planned (no image yet), their mounts added to
// `plan` (see gpu_mounts.hpp; the host's /dev is listed here).
[[nodiscard]] Result<ContainerGpu> addGpuToPlan(MountPlan& plan, gpu::GpuSetup setup);

// Phase 2: the CUDA check with the image mounted in `container`, against `env` (the command's
// environment, or the image's Env plus what the user passes: NVIDIA_REQUIRE_CUDA, CUDA_VERSION,
// NVIDIA_DISABLE_REQUIRE) and the image's labels, with phase 1's driver (so the same GPUs as
// were bound). Returns the variables to apply to each command's environment (applyGpuEnvironment;
// the plugin: once per step, applied per task). Nothing when GPUs are disabled.
[[nodiscard]] Result<std::vector<gpu::EnvEdit>> checkGpu(
    const ContainerGpu& gpu, const PreparedContainer& container,
    const std::map<std::string, std::string>& imageLabels, const EnvList& env);

// checkGpu(), then its variables applied to `env`.
[[nodiscard]] Result<EnvList> checkGpuAndEnvironment(
    const ContainerGpu& gpu, const PreparedContainer& container,
    const std::map<std::string, std::string>& imageLabels, EnvList env);

}  // namespace berth::container
