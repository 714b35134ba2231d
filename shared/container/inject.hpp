// Inject sets (config/inject_sets.hpp) and host MPI in a container, for every face: the sets
// chosen (site defaults + the user's names + the host MPI set) become mount operations and
// variables, in two phases around prepareContainerNamespace(), like the GPU set-up:
//
//   phase 1, host side (planInjection, addInjectionToPlan): libraries are bound read-only into
//     a small tmpfs at /usr/local/berth-inject/lib, each under its file name with links for the
//     name the site listed and its soname (and, for the host MPI set, the other MPICH-ABI name:
//     libmpi.so.12 <-> libmpich.so.12); LD_LIBRARY_PATH gets that directory first. The image is
//     never edited, and no ldconfig runs: the loader searches LD_LIBRARY_PATH before its cache,
//     so the host's libmpi.so.12 replaces the image's (a program with a DT_RPATH to its own MPI
//     keeps it; docs/admin-guide.md says so). Files and directories are bound read-only at their
//     target, device nodes (globs) at their own path with the numbers re-checked at binding;
//     every source is opened as the user.
//   phase 2, the image mounted (checkInjection): the image's MPI read from its files
//     (mpi/image_mpi.hpp); host MPI refused unless ABI and glibc fit; the step's --mpi checked
//     against the image and the host's PMIx (mpi/mpi_check.hpp): one line when it will fail.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "shared/config/site_config.hpp"
#include "shared/container/gpu_mounts.hpp"  // applyGpuEnvironment() applies InjectionCheck::env
#include "shared/container/mount_plan.hpp"
#include "shared/core/result.hpp"
#include "shared/gpu/injection.hpp"
#include "shared/mpi/image_mpi.hpp"
#include "shared/mpi/mpi_check.hpp"

namespace berth::container {

inline constexpr std::string_view kInjectDir = "/usr/local/berth-inject";
inline constexpr std::string_view kInjectLibraryDir = "/usr/local/berth-inject/lib";

// What the face asks for.
struct InjectWanted {
  std::vector<std::string> sets;  // config::parseInjectNames(); {"none"}: not even the defaults
  bool hostMpi = false;           // --container-mpi=host
  // The step's SLURM_MPI_TYPE (srun --mpi); empty: no step check (the CLI, a step without MPI).
  std::string stepMpi;
  bool check = true;  // --container-mpi-check=off: no step check (host MPI is always checked)
};

// Phase 1's result.
struct ContainerInjection {
  std::vector<MountOp> ops;
  std::vector<gpu::EnvEdit> env;  // after the environment rules (like the GPU's)
  std::string hostMpiSet;         // the host MPI set's name; empty: none
  std::vector<mpi::HostLibrary> hostMpiLibraries;
  InjectWanted wanted;
};

// What a face's option value asks for ("a,b", "none"; empty: the site's defaults), checked
// against the site's sets; `hostMpi`, `stepMpi` and `check` are the face's to fill in.
[[nodiscard]] Result<InjectWanted> injectWantedFrom(std::string_view names,
                                                    const config::SiteConfig& site);

// Resolves the chosen sets on the host (globs, files, sonames) into mounts and variables.
[[nodiscard]] Result<ContainerInjection> planInjection(const config::SiteConfig& site,
                                                       const InjectWanted& wanted);

// planInjection(), its mounts appended to `plan`.
[[nodiscard]] Result<ContainerInjection> addInjectionToPlan(MountPlan& plan,
                                                            const config::SiteConfig& site,
                                                            const InjectWanted& wanted);

// Phase 2's result: variables for every command, and warnings for the face to log.
struct InjectionCheck {
  std::vector<gpu::EnvEdit> env;
  std::vector<std::string> warnings;
};

// The checks with the image readable through `image` and the host through `host`; an error is
// the one line that stops the step (or the command) before anything runs.
[[nodiscard]] Result<InjectionCheck> checkInjection(const ContainerInjection& injection,
                                                    const mpi::FileReader& image,
                                                    const mpi::FileReader& host);

// What the MPI checks read from an image: `berth inspect --mpi`.
[[nodiscard]] Result<std::string> describeImageMpi(const mpi::FileReader& image,
                                                   const mpi::FileReader& host);

}  // namespace berth::container
