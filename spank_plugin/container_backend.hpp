// What the plugin needs from the rest of berth, as a struct of functions: the registry (pin a
// tag to a digest), the image cache (make sure an image is there), the container runtime
// (build the container in a helper child, keep the mount namespace) and the squashfs writer
// (--container-save). backend.cpp wires the real ones; unit tests pass fakes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/config/site_config.hpp"
#include "shared/container/build.hpp"
#include "shared/core/log.hpp"
#include "shared/core/result.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/gpu/injection.hpp"
#include "shared/image/metadata.hpp"
#include "spank_plugin/host_slurm.hpp"
#include "spank_plugin/spank_context.hpp"

namespace berth::spank {

struct UserIdentity {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// The image a step asked for.
struct ImageRequest {
  std::string image;                        // as the user gave it: reference, name or path
  std::optional<std::string> pinnedDigest;  // "sha256:..." when srun pinned the tag
  UserIdentity user;                        // credentials and file access are the user's
  GetEnv userEnvironment;                   // the job's: registry credential variables
  // slurmstepd: whether Slurm ended the step meanwhile (an RPC); a pull or a wait for another
  // node's pull polls it and stops.
  std::function<bool()> stepEnded;
};

// Everything the runtime needs to build one step's container on one node.
struct ContainerRequest {
  std::filesystem::path imageFile;  // the squashfs image
  UserIdentity user;
  bool writable = false;
  bool mountHome = true;
  std::vector<std::string> mounts;               // the user's --container-mounts
  std::optional<std::string> workdir;            // --container-workdir: made when missing
  std::vector<std::filesystem::path> hostPaths;  // bound at the same path (PMIx dirs, batch script)
  std::vector<container::HostBind> hostBinds;    // bound elsewhere (the host's Slurm client)
  // For named containers and --container-save: the overlay's layer lives in this host
  // directory (DIR/upper and DIR/work, kept between steps) instead of in a tmpfs.
  std::optional<std::filesystem::path> persistentUpper;
  // --container-gpu: the GPUs to inject (the driver is found where berth.conf says); nothing:
  // none.
  std::optional<container::GpuWanted> gpu;
  // Inject sets, host MPI and the MPI checks (shared/container/inject.hpp).
  std::optional<container::InjectWanted> inject;
};

// A built container: only the mount namespace is kept; the helper child is gone.
struct Container {
  UniqueFd mountNamespace;
  image::ImageConfig config;  // Env, Entrypoint, WorkingDir of the image
  std::filesystem::path imageFile;
  // Variables every task gets for its GPUs (CUDA_VISIBLE_DEVICES, LD_LIBRARY_PATH, ...),
  // applied after the environment rules.
  std::vector<gpu::EnvEdit> gpuEnv;
};

struct Backend {
  // The digest a registry reference with a tag points at now; nullopt for paths, cached
  // names and references that already carry a digest. Runs as the user (srun).
  std::function<Result<std::optional<std::string>>(std::string_view image)> pinDigest;
  // Whether the image is already in the cache (srun, as the user, to say that nodes pull).
  std::function<bool(std::string_view image, const std::optional<std::string>& digest)> isCached;
  // One pin per job (job_pins.hpp): the digest the job's earlier steps ran `image` with, from
  // the node's root-owned pin file (srun, as the user, inside job `jobId`); and remembering it
  // there when a step ran a pinned image (slurmstepd, root).
  std::function<std::optional<std::string>(uint32_t jobId, std::string_view image)> jobPin;
  std::function<Status(uint32_t jobId, uint32_t uid, std::string_view image,
                       std::string_view digest)>
      rememberJobPin;
  // The squashfs of the image, pulled into the cache first if needed (under the cache lock:
  // one node pulls, the others wait). Runs as root in slurmstepd.
  std::function<Result<std::filesystem::path>(const ImageRequest&)> ensureImage;
  std::function<Result<Container>(const ContainerRequest&)> buildContainer;
  // berth.conf host_slurm: the node's Slurm client for a batch step's container (binds and the
  // PATH entry, host_slurm.hpp) from the node's slurm.conf and what it says.
  std::function<Result<HostSlurmSetup>(std::string_view nodeName,
                                       const std::filesystem::path& slurmConf,
                                       const slurm::SlurmdDirPatterns& conf)>
      hostSlurmClient;
  // Writes `image` with the changes of a persistentUpper directory applied, as a squashfs at
  // `output`, created as `user`.
  std::function<Status(const std::filesystem::path& image, const std::filesystem::path& upper,
                       const std::filesystem::path& output, const UserIdentity& user)>
      saveContainer;
  // Whether `user` can create `output` (its directory writable): checked when the step starts,
  // because a save that fails after the tasks cannot change the step's exit code any more.
  std::function<Status(const std::filesystem::path& output, const UserIdentity& user)>
      checkSaveTarget;
};

// How srun users name their choices in berth's messages: the flags they wrote
// (--container-mounts, --container-writable), never the berth tool's.
container::ItemNames srunItemNames();

// The real backend, over libberth; `log` receives progress (pull messages) for the user.
Backend makeBackend(const config::SiteConfig& site, const Logger& log);

}  // namespace berth::spank
