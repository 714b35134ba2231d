#include "shared/container/gpu_container.hpp"

#include "shared/container/gpu_mounts.hpp"
#include "shared/sys/mount.hpp"

namespace berth::container {

gpu::DriverSearch driverSearchFor(const std::filesystem::path& driverRoot,
                                  const std::vector<std::filesystem::path>& libraryDirs) {
  gpu::DriverSearch search = driverRoot.empty() || driverRoot == "/"
                                 ? gpu::DriverSearch{}
                                 : gpu::DriverSearch::under(driverRoot);
  std::vector<std::filesystem::path> dirs;
  for (const auto& dir : libraryDirs)
    dirs.push_back(driverRoot.empty() || driverRoot == "/" ? dir
                                                           : driverRoot / dir.relative_path());
  search.extraDirs.insert(search.extraDirs.begin(), dirs.begin(), dirs.end());
  return search;
}

Result<ContainerGpu> addGpuToPlan(MountPlan& plan, gpu::GpuSetup setup) {
  setup.imageRoot.clear();
  setup.imageEnv.clear();
  setup.imageLabels.clear();
  ContainerGpu gpu{std::move(setup), {}, {}};
  BERTH_ASSIGN(gpu.driver, gpu::discoverDriverFor(gpu.setup));
  BERTH_ASSIGN(gpu.injection, gpu::prepareGpuInjection(gpu.setup, gpu.driver));
  if (!gpu.injection.enabled)
    return gpu;
  BERTH_ASSIGN(auto hostDev, listHostDev());
  addGpuMounts(plan.ops, gpu.injection, hostDev);
  // A user namespace cannot create the mount point in the image's root-owned /usr/local.
  if (plan.unprivileged)
    plan.upperDirs.push_back(gpu.injection.tmpfsDir);
  return gpu;
}

Result<std::vector<gpu::EnvEdit>> checkGpu(const ContainerGpu& gpu,
                                           const PreparedContainer& container,
                                           const std::map<std::string, std::string>& imageLabels,
                                           const EnvList& env) {
  if (!gpu.injection.enabled)
    return std::vector<gpu::EnvEdit>{};
  gpu::GpuSetup setup = gpu.setup;
  setup.imageRoot = sys::fdPath(container.rootDirectory());
  setup.imageEnv = env;
  setup.imageLabels = imageLabels;
  BERTH_ASSIGN(gpu::GpuInjection checked, gpu::prepareGpuInjection(setup, gpu.driver));
  return checked.env;
}

Result<EnvList> checkGpuAndEnvironment(const ContainerGpu& gpu, const PreparedContainer& container,
                                       const std::map<std::string, std::string>& imageLabels,
                                       EnvList env) {
  BERTH_ASSIGN(auto edits, checkGpu(gpu, container, imageLabels, env));
  return applyGpuEnvironment(std::move(env), edits);
}

}  // namespace berth::container
