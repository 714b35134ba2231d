// The real Backend over libberth: shared/container builds the container, shared/cache provides
// the image (image_provider.cpp: the Slurm glue around it), saving uses the converter
// (container_save.cpp).
#include <fcntl.h>

#include "shared/container/build.hpp"
#include "shared/container/gpu_container.hpp"
#include "shared/container/mount_spec.hpp"
#include "shared/sys/identity.hpp"
#include "spank_plugin/container_backend.hpp"
#include "spank_plugin/image_provider.hpp"

namespace berth::spank {
namespace {

Result<std::vector<container::MountSpec>> mountSpecs(const std::vector<std::string>& specs) {
  std::vector<container::MountSpec> parsed;
  for (const std::string& spec : specs) {
    BERTH_ASSIGN(container::MountSpec one, container::parseMountSpec(spec));
    parsed.push_back(std::move(one));
  }
  return parsed;
}

Result<Container> buildContainer(const config::SiteConfig& site, const ContainerRequest& request,
                                 const Logger& log) {
  container::ContainerRequest wanted;
  BERTH_ASSIGN(wanted.user, sys::lookupIdentity(static_cast<uid_t>(request.user.uid)));
  wanted.user.gid = static_cast<gid_t>(request.user.gid);
  wanted.image = {container::ImageKind::kSquashfs, request.imageFile};
  BERTH_ASSIGN(wanted.options.binds, mountSpecs(request.mounts));
  wanted.options.writable = request.writable;
  wanted.options.noHome = !request.mountHome;
  wanted.options.workdir = request.workdir.value_or("");
  wanted.hostPaths = request.hostPaths;
  wanted.hostBinds = request.hostBinds;
  wanted.persistentLayer = request.persistentUpper;
  wanted.gpu = request.gpu;
  wanted.inject = request.inject;
  wanted.names = srunItemNames();
  BERTH_ASSIGN(container::BuiltContainer built, container::buildContainer(site, wanted));
  Container step;
  // Privileged mode: the helper is gone; the namespace fd is all there is to keep. Close-on-exec:
  // the tasks are forked from slurmstepd, and a task's program holding the namespace open
  // would keep the container's mounts (and its loop device) alive after the step.
  step.mountNamespace = UniqueFd(::fcntl(built.prepared.mountNamespace(), F_DUPFD_CLOEXEC, 0));
  if (!step.mountNamespace)
    return errnoError("keep the container's namespace");
  step.config = std::move(built.config);
  step.imageFile = request.imageFile;
  if (request.gpu) {
    // The CUDA check with the image mounted: its Env, and NVIDIA_DISABLE_REQUIRE from the job.
    std::vector<std::string> env = step.config.env;
    if (auto skip = request.gpu->stepEnv("NVIDIA_DISABLE_REQUIRE"))
      env.push_back("NVIDIA_DISABLE_REQUIRE=" + *skip);
    BERTH_ASSIGN(step.gpuEnv,
                 container::checkGpu(built.gpu, built.prepared, step.config.labels, env));
  }
  // The inject sets' and MPI checks' variables, applied like the GPU's after the rules.
  step.gpuEnv.insert(step.gpuEnv.end(), built.inject.env.begin(), built.inject.env.end());
  for (const std::string& warning : built.inject.warnings)
    log.warning("MPI: {}", warning);
  return step;
}

}  // namespace

container::ItemNames srunItemNames() {
  return {.bind = "--container-mounts", .workdir = "--container-workdir"};
}

Backend makeBackend(const config::SiteConfig& site, const Logger& log) {
  Backend backend;
  addImageProvider(backend, site, log);
  backend.buildContainer = [site, log](const ContainerRequest& request) {
    return buildContainer(site, request, log);
  };
  backend.saveContainer =
      [site, log](const std::filesystem::path& image, const std::filesystem::path& layer,
                  const std::filesystem::path& output, const UserIdentity& user) {
        return saveContainer(site, image, layer, output, user, log);
      };
  backend.checkSaveTarget = checkSaveTarget;
  backend.hostSlurmClient = [site](std::string_view nodeName,
                                   const std::filesystem::path& slurmConf,
                                   const slurm::SlurmdDirPatterns& conf) {
    return prepareHostSlurm(site, nodeName, slurmConf, conf, runningHostSlurmSources());
  };
  return backend;
}

}  // namespace berth::spank
