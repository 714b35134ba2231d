#include "shared/container/build.hpp"

#include <fmt/format.h>

#include "shared/config/site_mapping.hpp"
#include "shared/container/entrypoint.hpp"

namespace berth::container {
namespace {

// A host path bound at the same place: made by the face's host for this container (Slurm's
// PMIx directories, the batch script), so not checked as the user; skipped when missing.
MountOp hostPathBind(const std::filesystem::path& path) {
  MountOp op;
  op.kind = MountOpKind::kBind;
  op.source = path.string();
  op.target = path.string();
  op.recursive = false;
  op.optional = true;
  op.missing = MissingTarget::kCreate;
  op.origin = fmt::format("host path {}", path.string());
  return op;
}

Result<MountPlan> planFor(const config::SiteConfig& site, const ContainerRequest& request) {
  PlanInputs inputs;
  BERTH_ASSIGN(inputs.config, config::runtimeConfigFor(site));
  // A user namespace assembles the root in a fresh directory of /tmp (hidden by the staging
  // tmpfs inside the container only).
  if (request.unprivileged || (request.root && request.root->mode != RootMode::kIdentity))
    inputs.config.stagingDir = "/tmp";
  inputs.image = request.image;
  inputs.options = request.options;
  inputs.user = request.user;
  inputs.unprivileged = request.unprivileged;
  inputs.root = request.root;
  inputs.hostCwd = request.hostCwd;
  inputs.names = request.names;
  BERTH_ASSIGN(MountPlan plan, buildMountPlan(inputs));
  // The face's binds elsewhere first: the step's own paths (the batch script) then stay on top
  // of a host directory bound over them (a configuration directory holding the spool).
  for (const HostBind& bind : request.hostBinds) {
    MountOp op = hostPathBind(bind.source);
    op.target = bind.target.string();
    op.readOnly = bind.readOnly;
    op.recursive = true;  // a host tree (/usr) with what is mounted below it
    op.origin = fmt::format("host path {} at {}", bind.source.string(), bind.target.string());
    plan.ops.push_back(std::move(op));
  }
  for (const std::filesystem::path& path : request.hostPaths)
    plan.ops.push_back(hostPathBind(path));
  plan.persistentLayer = request.persistentLayer;
  return plan;
}

}  // namespace

gpu::DriverSearch siteDriverSearch(const config::SiteConfig& site,
                                   const std::filesystem::path& driverRootOverride) {
  return driverSearchFor(driverRootOverride.empty() ? site.gpuDriverRoot : driverRootOverride,
                         site.gpuLibraryDirs);
}

Result<BuiltContainer> buildContainer(const config::SiteConfig& site,
                                      const ContainerRequest& request) {
  BuiltContainer built;
  BERTH_ASSIGN(built.plan, planFor(site, request));
  bool remapped = request.root && request.root->mode != RootMode::kIdentity;
  built.runAs = remapped ? rootIdentity() : request.user;
  if (remapped)
    built.joinAs = request.user;
  if (remapped && request.root->mode == RootMode::kSingle) {
    BERTH_ASSIGN(built.syscallFilter, sys::fakeOwnershipFilter());
  }
  if (request.gpu) {
    gpu::GpuSetup setup;
    setup.search = siteDriverSearch(site, request.gpu->driverRoot);
    setup.request = request.gpu->request;
    setup.stepEnv = request.gpu->stepEnv;
    setup.slurmManagesGpus = request.gpu->slurmManagesGpus;
    BERTH_ASSIGN(built.gpu, addGpuToPlan(built.plan, std::move(setup)));
  }
  std::optional<ContainerInjection> injection;
  if (request.inject) {
    BERTH_ASSIGN(injection, addInjectionToPlan(built.plan, site, *request.inject));
  }
  BERTH_ASSIGN(built.prepared, prepareContainerNamespace(built.plan, request.user));
  if (injection) {
    BERTH_ASSIGN(built.inject,
                 checkInjection(*injection, mpi::rootFileReader(built.prepared.rootDirectory()),
                                mpi::hostFileReader()));
  }
  if (!built.prepared.imageConfigJson().empty()) {
    BERTH_ASSIGN(built.config, image::parseImageConfig(built.prepared.imageConfigJson())
                                   .withContext("the image's /.berth/config.json"));
  }
  built.scripts = findImageScripts(built.prepared.rootDirectory());
  // An image for another CPU cannot run here: say so instead of "Exec format error".
  BERTH_TRY(checkPlatform(built.config, image::hostPlatform()));
  return built;
}

}  // namespace berth::container
