#include "spank_plugin/task_side.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>

#include <fmt/format.h>

#include "shared/container/entrypoint.hpp"
#include "shared/container/gpu_mounts.hpp"
#include "shared/container/launch.hpp"
#include "shared/slurm/env_preset.hpp"
#include "spank_plugin/container_backend.hpp"
#include "spank_plugin/task_environment.hpp"

namespace berth::spank {
namespace {

bool isDirectory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool isExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string currentDirectory() {
  char buffer[PATH_MAX];
  if (::getcwd(buffer, sizeof buffer) == nullptr)
    return {};
  return buffer;
}

}  // namespace

Status enterContainer(StepState& state) {
  if (state.deferredError)
    return *state.deferredError;
  if (!state.container)
    return okStatus();
  // Slurm has already moved the task to the directory the user launched from, on the host.
  state.launchDir = currentDirectory();
  if (::setns(state.container->mountNamespace.get(), CLONE_NEWNS) != 0)
    return errnoError("enter the container (setns)");
  // The image's programs never gain privileges (setuid files are inert on a nosuid mount
  // anyway); this also holds for everything the task starts.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return errnoError("set no_new_privs");
  // setns() left the task at the container's root; Slurm changes to the launch directory
  // next (inside the container now) and task_init picks the final one.
  return okStatus();
}

Status prepareTaskEnvironment(const StepState& state, const Environment& taskEnv,
                              const std::vector<std::string>& argv) {
  if (!state.container)
    return okStatus();
  // A --container-workdir that exists but is out of the user's reach: say so (stat fails with
  // EACCES below a directory the user cannot search), not "no such directory".
  struct stat st {};
  if (state.workdir && ::stat(state.workdir->c_str(), &st) != 0 && errno != ENOENT)
    return errnoError(fmt::format("--container-workdir={}", *state.workdir));
  BERTH_ASSIGN(std::string workdir,
               container::workingDirectory({.requested = state.workdir,
                                            .callerDir = state.launchDir,
                                            .imageWorkdir = state.container->config.workingDir,
                                            .exists = isDirectory},
                                           srunItemNames()));
  if (::chdir(workdir.c_str()) != 0)
    return errnoError(state.workdir ? fmt::format("--container-workdir={}", workdir)
                                    : fmt::format("chdir to {} in the container", workdir));
  std::vector<std::string> host = taskEnv.all();
  container::EnvironmentOptions options = taskEnvironmentOptions(
      state.keepFromHost, state.options.has(OptionId::kCleanEnv), state.site);
  // --container-env-preset: this task's MASTER_ADDR, RANK, ... from its Slurm variables.
  BERTH_ASSIGN(
      options.preset,
      slurm::presetEnvironment(state.envPreset, taskEnv.get).withContext("--container-env-preset"));
  EnvironmentChanges changes = taskEnvironmentChanges(host, state.container->config.env, options);
  for (const std::string& name : changes.unset)
    BERTH_TRY(taskEnv.unset(name));
  for (const auto& [name, value] : changes.set)
    BERTH_TRY(taskEnv.set(name, value));
  if (!state.container->gpuEnv.empty()) {
    std::vector<std::string> withGpu =
        container::applyGpuEnvironment(taskEnv.all(), state.container->gpuEnv);
    for (const gpu::EnvEdit& edit : state.container->gpuEnv) {
      if (const std::string* entry = container::findEnv(withGpu, edit.name)) {
        std::string value = entry->substr(edit.name.size() + 1);  // findEnv gives NAME=VALUE
        BERTH_TRY(taskEnv.set(edit.name, value));
        changes.set.emplace_back(edit.name, value);  // PATH below sees ours
      }
    }
  }

  std::string path;
  for (const auto& [name, value] : changes.set) {
    if (name == "PATH")
      path = value;
  }
  if (path.empty())
    path = taskEnv.get("PATH").value_or(std::string(container::kDefaultSearchPath));
  if (!state.hostSlurmBin.empty()) {
    // A batch script: the node's Slurm client after the image's own commands (an image that
    // ships srun keeps it first).
    path += ":" + state.hostSlurmBin;
    BERTH_TRY(taskEnv.set("PATH", path));
    auto entry = std::find_if(changes.set.begin(), changes.set.end(),
                              [](const auto& change) { return change.first == "PATH"; });
    if (entry != changes.set.end())
      entry->second = path;
    else
      changes.set.emplace_back("PATH", path);
  }

  // The task is inside: a built image's runscript is what --container-entrypoint runs.
  container::ImageScripts scripts;
  if (UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)); root)
    scripts = container::findImageScripts(root.get());
  const auto& entrypoint = state.container->config.entrypoint;
  if (!state.runEntrypoint || (entrypoint.empty() && !scripts.runscript)) {
    // Slurm execs the command next; a command missing from the image gets a clear line here
    // rather than Slurm's bare "execve(): No such file or directory".
    bool found =
        argv.empty() || (argv[0].find('/') != std::string::npos
                             ? isExecutableFile(argv[0])
                             : container::findInPath(argv[0], path, isExecutableFile).has_value());
    if (!found)
      return Error(fmt::format("command `{}` not found in the container (PATH={})", argv[0], path));
    return okStatus();
  }
  // Slurm would exec argv itself; exec ENTRYPOINT + argv instead, in this same task process
  // (same pid: Slurm's tracking, signals and accounting are unchanged).
  BERTH_ASSIGN(
      std::vector<std::string> command,
      container::containerCommand(state.container->config, {.mode = container::LaunchMode::kRun,
                                                            .args = argv,
                                                            .entrypoint = std::nullopt,
                                                            .shell = {},
                                                            .scripts = scripts}));
  std::vector<std::string> environment = applyEnvironmentChanges(host, changes);
  std::optional<std::string> program = container::findInPath(command[0], path, isExecutableFile);
  if (!program)
    return Error(
        fmt::format("the image's entrypoint `{}` is not found in the container", command[0]));
  std::vector<char*> argvPointers;
  for (std::string& arg : command)
    argvPointers.push_back(arg.data());
  argvPointers.push_back(nullptr);
  std::vector<char*> envPointers;
  for (std::string& entry : environment)
    envPointers.push_back(entry.data());
  envPointers.push_back(nullptr);
  ::execve(program->c_str(), argvPointers.data(), envPointers.data());
  return errnoError(fmt::format("run the image's entrypoint {}", *program));
}

}  // namespace berth::spank
