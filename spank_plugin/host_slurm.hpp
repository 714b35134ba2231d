// berth.conf host_slurm in slurmstepd, for a containerized batch step: what the node has (its
// Slurm client, dynamic loader, libraries, configuration, munge; slurm/host_client.hpp says
// what is bound where) and the wrapper scripts, written once per node under state_dir. The
// binds go into the batch step's container; /.berth/host-slurm/bin at the end of its PATH.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "shared/config/site_config.hpp"
#include "shared/container/build.hpp"
#include "shared/core/result.hpp"
#include "shared/slurm/slurmd_paths.hpp"

namespace berth::spank {

// Where the running slurmstepd's pieces are (runningHostSlurmSources); unit tests make their own.
struct HostSlurmSources {
  std::filesystem::path slurmstepd;   // its executable: Slurm's client commands are in ../bin
  std::filesystem::path libslurm;     // the libslurm it loaded: Slurm's library directory
  std::filesystem::path loader;       // the dynamic loader it runs with
  std::filesystem::path berthPlugin;  // spank_berth.so, which srun inside loads too
  std::filesystem::path ldCache = "/etc/ld.so.cache";  // the host's library directories
  std::filesystem::path mungeSocket = "/run/munge/munge.socket.2";  // munge's default
};

// The running process's (slurmstepd with spank_berth.so loaded).
HostSlurmSources runningHostSlurmSources();

struct HostSlurmSetup {
  std::vector<container::HostBind> binds;
  std::string binDir;  // inside: goes at the end of the batch script's PATH
};

// Finds the node's client and writes its wrappers into
// STATE_DIR/NODE/host-slurm-HASH/ (root's, 0755; HASH of their text, so a changed host gets
// new ones and concurrent batch steps share them). `slurmConf` is the node's file (empty: none)
// and `conf` what it says (PluginDir, AuthInfo).
Result<HostSlurmSetup> prepareHostSlurm(const config::SiteConfig& site, std::string_view nodeName,
                                        const std::filesystem::path& slurmConf,
                                        const slurm::SlurmdDirPatterns& conf,
                                        const HostSlurmSources& sources);

}  // namespace berth::spank
