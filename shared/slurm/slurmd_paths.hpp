// What a containerized task needs from the host so that PMIx (and MPI over it) works inside:
// the directories Slurm's PMIx plugin creates for the step, and, for batch steps, the script.
//
// Slurm 22.05 (mpi/pmix_v4), facts verified on the test cluster:
//   server dir  <SlurmdSpoolDir>/pmix.<job>.<step>/          (the PMIx server's rendezvous)
//   client dir  <TmpFS>/spmix_appdir_<uid>_<job>.<step>/     (PMIX_SERVER_TMPDIR of the tasks)
//   batch script <SlurmdSpoolDir>/job<NNNNN>/slurm_script    (job id zero-padded to 5 digits)
// SlurmdSpoolDir and TmpFS come from slurm.conf, where `%n` (node name) and `%h` (host name)
// may appear; slurmstepd does not hand them to SPANK plugins, so they are read from the file
// the node runs with (nodeSlurmConfPath: $SLURM_CONF, which slurmd passes on to slurmstepd —
// on configless nodes its conf-cache copy). The node
// name for %n: slurmstepd has neither SLURMD_NODENAME nor the spool dir as its cwd (checked on
// the test bed: its cwd is slurmd's log dir), so the plugin uses $SLURMD_NODENAME when some
// launcher sets it and else the short host name, which is the NodeName on usual clusters and
// on the test bed (every slurmd runs in its own UTS namespace named after its node).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::slurm {

// The slurm.conf settings a step's container needs: the two directories, still with their
// %n/%h patterns, and whether Slurm manages GPUs (GresTypes lists gpu), in which case a step
// Slurm gave no GPU has none (the GPU rules, docs/gpu.md).
struct SlurmdDirPatterns {
  std::string spoolDir = "/var/spool/slurmd";  // Slurm's built-in default
  std::string tmpFs = "/tmp";                  // Slurm's built-in default
  bool gpuGres = false;
  // For the host's Slurm client in a batch script (host_client.hpp): PluginDir as written
  // (colon-separated; empty: Slurm's built-in, the directory of libslurm), and munge's socket
  // from AuthInfo's socket= (empty: munge's default).
  std::string pluginDir;
  std::string mungeSocket;
};

// Reads SlurmdSpoolDir, TmpFS, GresTypes, PluginDir and AuthInfo from slurm.conf text (keys
// are case-insensitive, `#` starts a comment, the first occurrence wins as in Slurm). `Include`
// lines are ignored here; readSlurmConf() follows them.
SlurmdDirPatterns parseSlurmConf(std::string_view text);

// Reads the file (nodeSlurmConfPath), with the files its `Include` lines name in their place
// (relative to its directory, wildcards allowed, nested up to 8 deep).
Result<SlurmdDirPatterns> readSlurmConf(const std::filesystem::path& path);

// Slurm's built-in slurm.conf (Debian's and SchedMD's packages are built with
// --sysconfdir=/etc/slurm).
inline constexpr std::string_view kBuiltinSlurmConf = "/etc/slurm/slurm.conf";
// Where slurmd links its conf-cache directory on configless nodes; Slurm's own clients look
// there when they find no other slurm.conf.
inline constexpr std::string_view kConfiglessSlurmConf = "/run/slurm/conf/slurm.conf";

// The slurm.conf this node's Slurm runs with, found in libslurm's own order (read_config.c,
// _establish_config_source), never guessed: $SLURM_CONF, else the built-in file if it exists,
// else slurmd's configless link if it exists. In slurmstepd $SLURM_CONF is always set: slurmd
// exports the file it read (its -f file, or on configless nodes
// <SlurmdSpoolDir>/conf-cache/slurm.conf, fetched from slurmctld), and libslurm sets it to the
// file it loaded in every process. Nothing when none applies (a client that fetched its
// configuration into memory).
std::optional<std::filesystem::path> nodeSlurmConfPath(
    const std::function<std::optional<std::string>(std::string_view)>& getenv,
    const std::function<bool(const std::filesystem::path&)>& exists);

// Expands %n (node name), %h (host name) and %% in a slurm.conf path pattern.
std::string expandNodePattern(std::string_view pattern, std::string_view nodeName,
                              std::string_view hostName);

struct StepIdentity {
  uint32_t jobId = 0;
  uint32_t stepId = 0;
  uint32_t uid = 0;
};

// Slurm's special step ids (slurm.h SLURM_BATCH_SCRIPT, SLURM_EXTERN_CONT, SLURM_INTERACTIVE_STEP).
inline constexpr uint32_t kBatchStep = 0xfffffffb;
inline constexpr uint32_t kExternStep = 0xfffffffc;
inline constexpr uint32_t kInteractiveStep = 0xfffffffa;

struct HostPaths {
  std::filesystem::path pmixServerDir;  // bind at the same path in the container
  std::filesystem::path pmixClientDir;  // bind at the same path in the container
  std::filesystem::path batchScript;    // empty unless this is the batch step
};

// The host paths of one step on the node whose dirs are `spoolDir`/`tmpFs` (already expanded).
HostPaths stepHostPaths(const std::filesystem::path& spoolDir, const std::filesystem::path& tmpFs,
                        const StepIdentity& step);

// Those of `paths` that exist on the host, to bind at the same place: the PMIx dirs only
// exist for --mpi=pmix steps.
std::vector<std::filesystem::path> existingPaths(const HostPaths& paths);

}  // namespace berth::slurm
