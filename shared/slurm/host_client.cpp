#include "shared/slurm/host_client.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace berth::slurm {
namespace {

// Slurm's user commands (Slurm 22.05's man1), those a job script may call.
constexpr std::string_view kClientCommands[] = {
    "srun",     "sbatch", "salloc",   "scontrol", "squeue",   "scancel", "sinfo",
    "sacct",    "sstat",  "sattach",  "sbcast",   "sprio",    "sshare",  "sreport",
    "sacctmgr", "sdiag",  "strigger", "sgather",  "scrontab", "sh5util",
};

// A path as one single-quoted shell word.
std::string shellQuote(std::string_view text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'')
      quoted += "'\\''";
    else
      quoted += c;
  }
  return quoted + "'";
}

// The host tree a path lies in: its first component (/usr for /usr/lib/x86_64-linux-gnu).
std::filesystem::path topLevel(const std::filesystem::path& path) {
  auto it = path.begin();
  if (it == path.end() || *it != "/" || ++it == path.end())
    return path;
  return std::filesystem::path("/") / *it;
}

void addOnce(std::vector<HostBind>& binds, HostBind bind) {
  if (std::find(binds.begin(), binds.end(), bind) == binds.end())
    binds.push_back(std::move(bind));
}

}  // namespace

std::vector<std::string_view> slurmClientCommands() {
  return {std::begin(kClientCommands), std::end(kClientCommands)};
}

std::filesystem::path underPrefix(const std::filesystem::path& hostPath) {
  return std::filesystem::path(kHostSlurmPrefix) / hostPath.relative_path();
}

HostSlurmPlan planHostSlurm(const HostSlurmFacts& facts) {
  HostSlurmPlan plan;
  plan.binDir = std::string(kHostSlurmPrefix) + "/bin";
  // The trees holding the loader, the libraries and the commands, under the prefix.
  std::vector<std::filesystem::path> trees = {topLevel(facts.loader), topLevel(facts.commandDir)};
  for (const auto& dir : facts.libraryDirs)
    trees.push_back(topLevel(dir));
  for (const auto& tree : trees) {
    if (tree == "/" || tree.empty())
      continue;  // never the host's whole root
    addOnce(plan.binds, {.source = tree, .target = underPrefix(tree), .readOnly = true});
  }
  for (const auto& path : facts.samePath)
    addOnce(plan.binds, {.source = path, .target = path, .readOnly = true});
  if (!facts.mungeDir.empty())
    addOnce(plan.binds, {.source = facts.mungeDir, .target = facts.mungeDir, .readOnly = false});

  std::string libraryPath;
  for (const auto& dir : facts.libraryDirs)
    libraryPath += (libraryPath.empty() ? "" : ":") + underPrefix(dir).string();
  // A SLURM_CONF of the job's environment that is readable inside wins (as on the host);
  // else the node's own configuration, bound at its path.
  std::string config;
  if (!facts.slurmConf.empty())
    config = fmt::format("[ -r \"${{SLURM_CONF:-}}\" ] || SLURM_CONF={}\nexport SLURM_CONF\n",
                         shellQuote(facts.slurmConf.string()));
  for (const std::string& command : facts.commands) {
    plan.wrappers.emplace_back(
        command,
        fmt::format("#!/bin/sh\n"
                    "# berth: the host's {} through the host's loader (berth.conf host_slurm)\n"
                    "{}exec {} --inhibit-cache --library-path {} {} \"$@\"\n",
                    command, config, shellQuote(underPrefix(facts.loader).string()),
                    shellQuote(libraryPath),
                    shellQuote(underPrefix(facts.commandDir / command).string())));
  }
  return plan;
}

}  // namespace berth::slurm
