#include "shared/container/inject.hpp"

#include <glob.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "shared/core/read_file.hpp"

namespace berth::container {
namespace {

namespace fs = std::filesystem;

// The host paths a pattern names: itself (it must exist), or a glob's matches (at least one).
Result<std::vector<std::string>> expand(std::string_view set, const std::string& pattern) {
  glob_t matches{};
  std::unique_ptr<glob_t, void (*)(glob_t*)> owner(&matches, ::globfree);
  // No GLOB_ERR: a directory that is missing or unreadable on this node simply matches nothing.
  int rc = ::glob(pattern.c_str(), 0, nullptr, &matches);
  if (rc == GLOB_NOMATCH || (rc == 0 && matches.gl_pathc == 0))
    return Error(fmt::format("inject set `{}`: nothing on this node matches `{}`", set, pattern));
  if (rc != 0)
    return Error(fmt::format("inject set `{}`: cannot expand `{}`", set, pattern));
  return std::vector<std::string>(matches.gl_pathv, matches.gl_pathv + matches.gl_pathc);
}

MountOp readOnlyBind(std::string source, std::string target, std::string origin) {
  MountOp op;
  op.source = std::move(source);
  op.target = std::move(target);
  op.readOnly = true;
  op.checkAsUser = true;  // a site's set never shows the user what the user cannot read
  op.origin = std::move(origin);
  return op;
}

MountOp symlinkOp(std::string target, std::string text, std::string_view set) {
  MountOp op;
  op.kind = MountOpKind::kSymlink;
  op.source = std::move(text);
  op.target = std::move(target);
  op.origin = fmt::format("inject set `{}` {}", set, op.target);
  return op;
}

// One library: its file bound under its own name, links for the other names it is used by.
Status addLibrary(const config::InjectSet& set, const std::string& path, ContainerInjection& out,
                  std::vector<std::string>& names) {
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (ec)
    return Error(fmt::format("inject set `{}`: library `{}`: {}", set.name, path, ec.message()));
  BERTH_ASSIGN(std::string bytes,
               readWholeFile(real).withContext(fmt::format("inject set `{}`: library", set.name)));
  BERTH_ASSIGN(mpi::ElfFacts elf, mpi::readElfFacts(bytes).withContext(
                                      fmt::format("inject set `{}`: `{}`", set.name, path)));
  std::string file = real.filename().string();
  if (std::ranges::find(names, file) != names.end())
    return okStatus();  // listed twice (a glob and a name)
  names.push_back(file);
  out.ops.push_back(readOnlyBind(real.string(), fmt::format("{}/{}", kInjectLibraryDir, file),
                                 fmt::format("inject set `{}` library {}", set.name, path)));
  std::vector<std::string> aliases = {fs::path(path).filename().string()};
  if (!elf.soname.empty())
    aliases.push_back(elf.soname);
  if (set.hostMpi) {
    for (const std::string& name : mpi::mpichAbiNames(elf.soname))
      aliases.push_back(name);
    out.hostMpiLibraries.push_back({real.string(), std::move(elf)});
  }
  for (const std::string& alias : aliases) {
    if (std::ranges::find(names, alias) != names.end())
      continue;
    names.push_back(alias);
    out.ops.push_back(symlinkOp(fmt::format("{}/{}", kInjectLibraryDir, alias), file, set.name));
  }
  return okStatus();
}

Status addDevice(const config::InjectSet& set, const std::string& path, ContainerInjection& out) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISCHR(st.st_mode))
    return Error(fmt::format("inject set `{}`: `{}` is not a character device", set.name, path));
  MountOp op = readOnlyBind(path, path, fmt::format("inject set `{}` device {}", set.name, path));
  op.readOnly = false;
  op.recursive = false;
  op.allowDevices = true;
  op.device = std::make_pair(major(st.st_rdev), minor(st.st_rdev));
  out.ops.push_back(std::move(op));
  return okStatus();
}

}  // namespace

Result<InjectWanted> injectWantedFrom(std::string_view names, const config::SiteConfig& site) {
  InjectWanted wanted;
  if (!names.empty()) {
    BERTH_ASSIGN(wanted.sets, config::parseInjectNames(names, site.injectSets));
  }
  return wanted;
}

Result<ContainerInjection> planInjection(const config::SiteConfig& site,
                                         const InjectWanted& wanted) {
  ContainerInjection out;
  out.wanted = wanted;
  BERTH_ASSIGN(auto sets, config::selectInjectSets(site.injectSets, wanted.sets, wanted.hostMpi));
  std::vector<std::string> libraryNames;
  std::vector<MountOp> libraries;
  for (const config::InjectSet* set : sets) {
    if (set->hostMpi)
      out.hostMpiSet = set->name;
    for (const std::string& pattern : set->libraries) {
      BERTH_ASSIGN(auto paths, expand(set->name, pattern));
      for (const std::string& path : paths)
        BERTH_TRY(addLibrary(*set, path, out, libraryNames));
    }
    for (const config::InjectFile& file : set->files)
      out.ops.push_back(readOnlyBind(
          file.source, file.target,
          fmt::format("inject set `{}` file {}:{}", set->name, file.source, file.target)));
    for (const std::string& pattern : set->devices) {
      BERTH_ASSIGN(auto paths, expand(set->name, pattern));
      for (const std::string& path : paths)
        BERTH_TRY(addDevice(*set, path, out));
    }
    for (const auto& [name, value] : set->env)
      out.env.push_back({name, value, gpu::EnvEdit::Mode::kSet});
  }
  if (!libraryNames.empty()) {
    MountOp tmpfs;
    tmpfs.kind = MountOpKind::kTmpfs;
    tmpfs.target = std::string(kInjectDir);
    tmpfs.data = "mode=0755,size=64k";
    tmpfs.origin = fmt::format("inject {}", kInjectDir);
    out.ops.insert(out.ops.begin(), tmpfs);
    out.env.insert(out.env.begin(), {"LD_LIBRARY_PATH", std::string(kInjectLibraryDir),
                                     gpu::EnvEdit::Mode::kPrepend});
  }
  return out;
}

Result<ContainerInjection> addInjectionToPlan(MountPlan& plan, const config::SiteConfig& site,
                                              const InjectWanted& wanted) {
  BERTH_ASSIGN(ContainerInjection injection, planInjection(site, wanted));
  plan.ops.insert(plan.ops.end(), injection.ops.begin(), injection.ops.end());
  // A user namespace cannot create the mount point in the image's root-owned /usr/local.
  if (plan.unprivileged &&
      std::ranges::any_of(injection.ops, [](const MountOp& op) { return op.target == kInjectDir; }))
    plan.upperDirs.emplace_back(kInjectDir);
  return injection;
}

Result<InjectionCheck> checkInjection(const ContainerInjection& injection,
                                      const mpi::FileReader& image, const mpi::FileReader& host) {
  InjectionCheck result;
  result.env = injection.env;
  bool hostMpi = !injection.hostMpiSet.empty();
  mpi::StepMpi step = mpi::parseStepMpi(injection.wanted.stepMpi);
  // With host MPI the site's MPI talks to Slurm, not the image's: only ABI and glibc matter.
  bool stepCheck = injection.wanted.check && !hostMpi &&
                   (step == mpi::StepMpi::kPmix || step == mpi::StepMpi::kPmi2);
  if (!hostMpi && !stepCheck)
    return result;
  BERTH_ASSIGN(mpi::MpiFacts facts, mpi::scanMpi(image).withContext("read the image's MPI"));
  if (hostMpi)
    BERTH_TRY(mpi::checkHostMpi(injection.hostMpiSet, injection.hostMpiLibraries, facts));
  if (stepCheck) {
    BERTH_ASSIGN(mpi::PmixFacts hostPmix, mpi::scanPmix(host).withContext("read the host's PMIx"));
    mpi::MpiCheck check = mpi::checkStepMpi(facts, step, hostPmix);
    if (check.failure)
      return Error(*check.failure);
    result.warnings = std::move(check.warnings);
    for (auto& [name, value] : check.env)
      result.env.push_back({name, value, gpu::EnvEdit::Mode::kSet});
  }
  return result;
}

Result<std::string> describeImageMpi(const mpi::FileReader& image, const mpi::FileReader& host) {
  BERTH_ASSIGN(mpi::MpiFacts facts, mpi::scanMpi(image));
  BERTH_ASSIGN(mpi::PmixFacts hostPmix, mpi::scanPmix(host));
  std::string text = mpi::mpiFactsText(facts);
  text += fmt::format("host_pmix: {}\n", hostPmix.found() ? hostPmix.version : "none");
  for (auto [step, flag] :
       {std::pair{mpi::StepMpi::kPmix, "pmix"}, {mpi::StepMpi::kPmi2, "pmi2"}}) {
    mpi::MpiCheck check = mpi::checkStepMpi(facts, step, hostPmix);
    text += fmt::format("check_{}: {}\n", flag,
                        check.failure ? *check.failure
                        : check.warnings.empty()
                            ? std::string("ok")
                            : fmt::format("ok, {}", fmt::join(check.warnings, "; ")));
  }
  return text;
}

}  // namespace berth::container
