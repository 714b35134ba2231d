// The real Backend over libberth: the container runtime (shared/container) builds the
// container; the image cache and the registry client (shared/image) provide the image
// (image_provider.cpp); saving uses the converter (container_save.cpp).
#include <fcntl.h>

#include <fmt/format.h>

#include "shared/config/site_mapping.hpp"
#include "shared/container/container_namespace.hpp"
#include "shared/container/entrypoint.hpp"
#include "shared/container/gpu_container.hpp"
#include "shared/container/mount_plan.hpp"
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

// The runtime's settings from the site's, for slurmstepd.
Result<container::RuntimeConfig> runtimeConfig(const config::SiteConfig& site) {
  BERTH_ASSIGN(container::RuntimeConfig runtime, config::runtimeConfigFor(site));
  runtime.mountHome = true;           // the step's choice is made in ContainerOptions::noHome
  runtime.allowUnprivileged = false;  // slurmstepd is root
  return runtime;
}

// Host paths bound at the same place (PMIx directories, the batch script): Slurm made them
// for this step and user; they are not the user's choice, so they are not checked as the user.
container::MountOp stepBind(const std::filesystem::path& path) {
  container::MountOp op;
  op.kind = container::MountOpKind::kBind;
  op.source = path.string();
  op.target = path.string();
  op.recursive = false;
  op.optional = true;
  op.missing = container::MissingTarget::kCreate;
  op.origin = fmt::format("Slurm's {}", path.string());
  return op;
}

Result<Container> buildContainer(const config::SiteConfig& site, const ContainerRequest& request) {
  BERTH_ASSIGN(sys::Identity user, sys::lookupIdentity(static_cast<uid_t>(request.user.uid)));
  user.gid = static_cast<gid_t>(request.user.gid);
  container::PlanInputs inputs;
  BERTH_ASSIGN(inputs.config, runtimeConfig(site));
  inputs.image = {container::ImageKind::kSquashfs, request.imageFile};
  BERTH_ASSIGN(inputs.options.binds, mountSpecs(request.mounts));
  BERTH_ASSIGN(inputs.config.defaultBinds, mountSpecs(request.siteMounts));
  inputs.options.writable = request.writable;
  inputs.options.noHome = !request.mountHome;
  inputs.user = user;
  BERTH_ASSIGN(container::MountPlan plan, container::buildMountPlan(inputs));
  // Messages name the SPANK option the user wrote, not the CLI's.
  for (container::MountOp& op : plan.ops) {
    if (op.origin.starts_with("--bind "))
      op.origin = "--container-mounts " + op.origin.substr(7);
  }
  for (const std::filesystem::path& path : request.hostPaths)
    plan.ops.push_back(stepBind(path));
  plan.persistentLayer = request.persistentUpper;
  container::ContainerGpu gpu;
  if (request.gpu) {
    BERTH_ASSIGN(gpu, container::addGpuToPlan(plan, *request.gpu));
  }
  BERTH_ASSIGN(container::PreparedContainer prepared,
               container::prepareContainerNamespace(plan, user));
  Container built;
  // Privileged mode: the helper is gone; the namespace fd is all there is to keep. Close-on-exec:
  // the tasks are forked from slurmstepd, and a task's program holding the namespace open
  // would keep the container's mounts (and its loop device) alive after the step.
  built.mountNamespace = UniqueFd(::fcntl(prepared.mountNamespace(), F_DUPFD_CLOEXEC, 0));
  if (!built.mountNamespace)
    return errnoError("keep the container's namespace");
  if (!prepared.imageConfigJson().empty()) {
    BERTH_ASSIGN(built.config, image::parseImageConfig(prepared.imageConfigJson())
                                   .withContext("the image's /.berth/config.json"));
    // An image for another CPU cannot run here: say so instead of "Exec format error".
    BERTH_TRY(container::checkPlatform(built.config, image::hostPlatform()));
  }
  built.imageFile = request.imageFile;
  if (request.gpu) {
    // The CUDA check with the image mounted: its Env, and NVIDIA_DISABLE_REQUIRE from the job.
    std::vector<std::string> env = built.config.env;
    if (auto skip = request.gpu->stepEnv("NVIDIA_DISABLE_REQUIRE"))
      env.push_back("NVIDIA_DISABLE_REQUIRE=" + *skip);
    BERTH_ASSIGN(built.gpuEnv, container::checkGpu(gpu, prepared, built.config.labels, env));
  }
  return built;
}

}  // namespace

Backend makeBackend(const config::SiteConfig& site, const Logger& log) {
  Backend backend;
  addImageProvider(backend, site, log);
  backend.buildContainer = [site](const ContainerRequest& request) {
    return buildContainer(site, request);
  };
  backend.saveContainer =
      [site, log](const std::filesystem::path& image, const std::filesystem::path& layer,
                  const std::filesystem::path& output, const UserIdentity& user) {
        return saveContainer(site, image, layer, output, user, log);
      };
  backend.checkSaveTarget = checkSaveTarget;
  return backend;
}

}  // namespace berth::spank
