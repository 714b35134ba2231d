#include "spank_plugin/host_slurm.hpp"

#include <dlfcn.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <system_error>

#include <fmt/format.h>

#include "shared/core/strings.hpp"
#include "shared/gpu/ld_cache.hpp"
#include "shared/slurm/host_client.hpp"

namespace berth::spank {
namespace {

// The file the code at `address` was loaded from, empty when unknown.
std::filesystem::path objectOf(const void* address) {
  Dl_info info{};
  if (address == nullptr || ::dladdr(address, &info) == 0 || info.dli_fname == nullptr)
    return {};
  return info.dli_fname;
}

// `path` without symbolic links, empty when it does not exist.
std::filesystem::path resolved(const std::filesystem::path& path) {
  std::error_code error;
  std::filesystem::path real = std::filesystem::canonical(path, error);
  return error ? std::filesystem::path() : real;
}

bool isExecutable(const std::filesystem::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0;
}

void addResolved(std::vector<std::filesystem::path>& dirs, const std::filesystem::path& dir) {
  std::filesystem::path real = resolved(dir);
  if (!real.empty() && std::find(dirs.begin(), dirs.end(), real) == dirs.end())
    dirs.push_back(real);
}

// Where the host's loader finds libraries: Slurm's own directory and the loader's first, then
// every directory of the host's ld.so.cache, in its order (the glibc-hwcaps subdirectories are
// searched by the loader itself).
std::vector<std::filesystem::path> libraryDirs(const std::filesystem::path& libslurmDir,
                                               const std::filesystem::path& loader,
                                               const std::filesystem::path& ldCache) {
  std::vector<std::filesystem::path> dirs;
  addResolved(dirs, libslurmDir);
  addResolved(dirs, loader.parent_path());
  if (auto cache = gpu::readLdCache(ldCache.string()); cache.ok()) {
    for (const gpu::LdCacheEntry& entry : cache->entries) {
      if (entry.flags == gpu::hostLibraryFlags() && entry.hwcapsDir.empty())
        addResolved(dirs, std::filesystem::path(entry.path).parent_path());
    }
  }
  return dirs;
}

// Writes the wrappers into a directory named after their text, made complete under a
// temporary name first (another batch step of the node may do the same at the same time).
Result<std::filesystem::path> writeWrappers(
    const std::filesystem::path& parent,
    const std::vector<std::pair<std::string, std::string>>& wrappers) {
  std::string all;
  for (const auto& [name, text] : wrappers)
    all += name + '\0' + text + '\0';
  std::filesystem::path dir =
      parent / fmt::format("host-slurm-{:016x}", std::hash<std::string>{}(all));
  std::error_code error;
  if (std::filesystem::is_directory(dir, error))
    return dir;
  std::filesystem::create_directories(parent, error);
  if (error)
    return Error(fmt::format("create {}: {}", parent.string(), error.message()));
  std::filesystem::path temporary = dir.string() + fmt::format(".tmp{}", ::getpid());
  std::filesystem::remove_all(temporary, error);
  if (::mkdir(temporary.c_str(), 0755) != 0 || ::chmod(temporary.c_str(), 0755) != 0)
    return errnoError(fmt::format("create {}", temporary.string()));
  for (const auto& [name, text] : wrappers) {
    std::filesystem::path file = temporary / name;
    FILE* out = std::fopen(file.c_str(), "we");
    bool written = out != nullptr && std::fwrite(text.data(), 1, text.size(), out) == text.size();
    if (out != nullptr)
      written = std::fclose(out) == 0 && written;
    if (!written || ::chmod(file.c_str(), 0755) != 0)
      return errnoError(fmt::format("write {}", file.string()));
  }
  if (::rename(temporary.c_str(), dir.c_str()) != 0) {
    int saved = errno;
    std::filesystem::remove_all(temporary, error);
    if (!std::filesystem::is_directory(dir, error))  // not made by another step meanwhile
      return Error::fromErrno(saved, fmt::format("rename to {}", dir.string()));
  }
  return dir;
}

}  // namespace

HostSlurmSources runningHostSlurmSources() {
  HostSlurmSources sources;
  std::error_code error;
  sources.slurmstepd = std::filesystem::read_symlink("/proc/self/exe", error);
  sources.libslurm = objectOf(::dlsym(RTLD_DEFAULT, "slurm_load_job"));
  sources.loader = objectOf(reinterpret_cast<const void*>(::getauxval(AT_BASE)));
  sources.berthPlugin = objectOf(reinterpret_cast<const void*>(&runningHostSlurmSources));
  return sources;
}

Result<HostSlurmSetup> prepareHostSlurm(const config::SiteConfig& site, std::string_view nodeName,
                                        const std::filesystem::path& slurmConf,
                                        const slurm::SlurmdDirPatterns& conf,
                                        const HostSlurmSources& sources) {
  slurm::HostSlurmFacts facts;
  facts.loader = resolved(sources.loader);
  if (facts.loader.empty())
    return Error(fmt::format("the dynamic loader `{}` is not found", sources.loader.string()));
  std::filesystem::path libslurmDir = resolved(sources.libslurm).parent_path();
  if (libslurmDir.empty())
    return Error("libslurm is not loaded");
  // Slurm installs its commands in bin/ next to sbin/slurmstepd.
  std::filesystem::path stepd = resolved(sources.slurmstepd);
  facts.commandDir = stepd.parent_path().parent_path() / "bin";
  for (std::string_view command : slurm::slurmClientCommands()) {
    if (isExecutable(facts.commandDir / command))
      facts.commands.emplace_back(command);
  }
  if (std::find(facts.commands.begin(), facts.commands.end(), "srun") == facts.commands.end())
    return Error(fmt::format("no srun in {} (next to {})", facts.commandDir.string(),
                             sources.slurmstepd.string()));
  facts.libraryDirs = libraryDirs(libslurmDir, facts.loader, sources.ldCache);
  facts.slurmConf = slurmConf;

  // At their own place: Slurm's plugins (dlopen()ed from PluginDir), the configuration
  // directory, berth's plugin (plugstack.conf names it), the site's extra paths.
  std::vector<std::filesystem::path> samePath;
  if (!conf.pluginDir.empty()) {
    for (const std::string& dir : split(conf.pluginDir, ':'))
      addResolved(samePath, dir);
  } else {
    addResolved(samePath, libslurmDir);  // Slurm's built-in PluginDir: libslurm's directory
  }
  if (!slurmConf.empty())
    addResolved(samePath, slurmConf.parent_path());
  if (std::filesystem::path plugin = resolved(sources.berthPlugin); !plugin.empty())
    samePath.push_back(plugin);
  for (const std::filesystem::path& path : site.hostSlurmPaths)
    addResolved(samePath, path);
  facts.samePath = std::move(samePath);
  facts.mungeDir =
      resolved(std::filesystem::path(conf.mungeSocket.empty() ? sources.mungeSocket.string()
                                                              : conf.mungeSocket)
                   .parent_path());

  slurm::HostSlurmPlan plan = slurm::planHostSlurm(facts);
  BERTH_ASSIGN(std::filesystem::path wrappers,
               writeWrappers(site.stateDir / std::string(nodeName), plan.wrappers));
  HostSlurmSetup setup;
  for (const slurm::HostBind& bind : plan.binds)
    setup.binds.push_back(
        {.source = bind.source, .target = bind.target, .readOnly = bind.readOnly});
  setup.binds.push_back({.source = wrappers, .target = plan.binDir, .readOnly = true});
  setup.binDir = plan.binDir;
  return setup;
}

}  // namespace berth::spank
