// The host's Slurm client inside a containerized batch script (berth.conf host_slurm): the
// script runs in the image, yet `srun`, `sbatch`, `scontrol`, ... are the node's own, whatever
// the image holds (no Slurm, another glibc, no glibc at all).
//
// The host's directories that hold the client, its libraries and its dynamic loader are bound
// read-only under a private prefix (/.berth/host-slurm/usr for the host's /usr, ...), and a
// small wrapper script per command in /.berth/host-slurm/bin runs the host's command through
// the host's own loader with the host's library directories:
//
//   /.berth/host-slurm/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --inhibit-cache
//       --library-path /.berth/host-slurm/usr/lib/x86_64-linux-gnu:... --argv0 srun
//       /.berth/host-slurm/usr/bin/srun ARGS
//
// so the image's loader, ld.so.cache and libraries never take part. What Slurm reaches by
// absolute path at run time is bound at its own path: its plugin directory (plugins are
// dlopen()ed from PluginDir), the node's configuration directory (slurm.conf, plugstack.conf:
// the configless cache on configless nodes), berth's own SPANK plugin, munge's socket
// directory and the site's extra paths (host_slurm_paths: the PMIx library mpi/pmix loads by
// absolute path). /.berth/host-slurm/bin goes at the end of PATH: an image that ships its own
// srun keeps it first. Steps started from the script inherit the job's image as usual.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::slurm {

inline constexpr std::string_view kHostSlurmPrefix = "/.berth/host-slurm";

// Slurm's user commands, looked for in the host's client directory.
std::vector<std::string_view> slurmClientCommands();

// What the node has, all host paths resolved (no symbolic links).
struct HostSlurmFacts {
  std::filesystem::path loader;                    // the host's dynamic loader
  std::vector<std::filesystem::path> libraryDirs;  // where the host's libraries are, in order
  std::filesystem::path commandDir;                // where srun and the others are
  std::vector<std::string> commands;               // those of slurmClientCommands() there
  std::filesystem::path slurmConf;                 // the node's slurm.conf (nodeSlurmConfPath)
  // Bound at their own path, read-only (plugin dir, config dir, berth's plugin, site paths).
  std::vector<std::filesystem::path> samePath;
  std::filesystem::path mungeDir;  // munge's socket directory, bound at its own path
};

struct HostBind {
  std::filesystem::path source;  // on the host
  std::filesystem::path target;  // in the container
  bool readOnly = true;
  bool operator==(const HostBind&) const = default;
};

struct HostSlurmPlan {
  std::vector<HostBind> binds;  // the prefix's host trees, then the same-path ones
  // Wrapper scripts for /.berth/host-slurm/bin: command name and text.
  std::vector<std::pair<std::string, std::string>> wrappers;
  std::string binDir;  // /.berth/host-slurm/bin: appended to the batch script's PATH
};

// The binds and wrappers for `facts`. Pure: unit tests check it without a host.
HostSlurmPlan planHostSlurm(const HostSlurmFacts& facts);

// Where a host path appears under the prefix: /usr/bin/srun -> /.berth/host-slurm/usr/bin/srun.
std::filesystem::path underPrefix(const std::filesystem::path& hostPath);

}  // namespace berth::slurm
