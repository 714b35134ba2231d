// Build a container: the one way every face (slurmstepd for a Slurm step, `berth
// run|exec|shell`) assembles one from an image. The site's settings (berth.conf: runtime
// settings, default_mounts, gpu_driver_root, gpu_library_dirs) are applied here, so both faces
// get the same container for the same choices:
//
//   mount plan (system mounts, home, site binds, the user's binds, the face's own mounts)
//   -> GPU discovery and mounts -> the namespace built by a helper child
//   -> the image's config read and its platform checked
//
// The CUDA check needs the command's environment: the face runs it afterwards with checkGpu()
// (gpu_container.hpp) on what this returns.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shared/config/site_config.hpp"
#include "shared/container/container_namespace.hpp"
#include "shared/container/entrypoint.hpp"
#include "shared/container/gpu_container.hpp"
#include "shared/container/inject.hpp"
#include "shared/container/mount_plan.hpp"
#include "shared/container/options.hpp"
#include "shared/core/result.hpp"
#include "shared/gpu/request.hpp"
#include "shared/image/metadata.hpp"
#include "shared/sys/identity.hpp"
#include "shared/sys/syscall_filter.hpp"

namespace berth::container {

// GPUs to inject; the driver is looked for where berth.conf says.
struct GpuWanted {
  gpu::GpuRequest request;
  gpu::EnvLookup stepEnv;  // the step's (or the caller's) environment: SLURM_*_GPUS, CUDA_MPS_*
  // Slurm manages the node's GPUs (slurm.conf GresTypes lists gpu): a step without a GPU
  // allocation gets none.
  bool slurmManagesGpus = false;
  // Instead of berth.conf's gpu_driver_root (tests, debugging: `berth exec --gpu-driver-root`).
  std::filesystem::path driverRoot;
};

// A host path the face binds somewhere else than its own place (the host's Slurm client under
// /.berth/host-slurm in a batch script: slurm/host_client.hpp).
struct HostBind {
  std::filesystem::path source;  // on the host
  std::filesystem::path target;  // in the container
  bool readOnly = true;
};

// What a face asks for: the user's choices, already resolved against the site's defaults
// (options.noHome: berth.conf mount_home when the user said nothing).
struct ContainerRequest {
  ImageLocation image;
  sys::Identity user;  // whose container: bind sources are opened as this user
  ContainerOptions options;
  bool unprivileged = false;  // a user namespace: the caller is not root
  // Root inside (--fakeroot, --container-remap-root): how it maps to `user` (chooseRootMapping).
  // Empty: the command runs as `user`.
  std::optional<RootMapping> root;
  std::string hostCwd;  // absolute; empty: not looked for inside
  // Host paths the face made for this container, bound at the same place after the plan's
  // mounts (Slurm's PMIx directories and batch script): not the user's choice, so not checked
  // as the user; skipped when missing.
  std::vector<std::filesystem::path> hostPaths;
  // Likewise (not checked as the user, skipped when missing), each at its target, bound before
  // hostPaths.
  std::vector<HostBind> hostBinds;
  // The overlay's layer in this host directory (kept: named containers, save) instead of a tmpfs.
  std::optional<std::filesystem::path> persistentLayer;
  std::optional<GpuWanted> gpu;
  // Inject sets, host MPI and the MPI checks (inject.hpp); nothing: none (not even the site's
  // default sets: `berth build` steps).
  std::optional<InjectWanted> inject;
  ItemNames names;  // the face's words for the user's choices, in messages
};

struct BuiltContainer {
  PreparedContainer prepared;
  MountPlan plan;             // as executed (hostCwdInside: where the caller's directory is)
  image::ImageConfig config;  // the image's /.berth/config.json (empty when it has none)
  ImageScripts scripts;       // a built image's runscript, test and %environment
  ContainerGpu gpu;           // for checkGpu(); disabled without GPUs
  // Inject sets and MPI checks: variables for every command (applyGpuEnvironment, after the
  // environment rules) and warnings for the face to log.
  InjectionCheck inject;
  // Who the command runs as inside: the request's user, or root in a root mode; and then who
  // the process must be on the host before it joins (the request's user; none unless remapped).
  sys::Identity runAs;
  std::optional<sys::Identity> joinAs;
  // The single identity mode's seccomp filter (fakeOwnershipFilter), compiled here: the
  // process that starts the command installs it right before exec.
  std::optional<sys::SyscallFilter> syscallFilter;
};

// Where to look for the NVIDIA driver: `override` (when not empty) or berth.conf's
// gpu_driver_root, with its gpu_library_dirs searched first.
gpu::DriverSearch siteDriverSearch(const config::SiteConfig& site,
                                   const std::filesystem::path& driverRootOverride = {});

[[nodiscard]] Result<BuiltContainer> buildContainer(const config::SiteConfig& site,
                                                    const ContainerRequest& request);

}  // namespace berth::container
