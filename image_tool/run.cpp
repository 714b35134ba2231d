// berth run | exec | shell | test: run a command inside an image, outside Slurm.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <optional>

#include <fmt/format.h>

#include "image_tool/command.hpp"
#include "image_tool/image_resolver.hpp"
#include "image_tool/site.hpp"
#include "shared/container/build.hpp"
#include "shared/container/entrypoint.hpp"
#include "shared/container/environment.hpp"
#include "shared/container/gpu_container.hpp"
#include "shared/container/identity_mode.hpp"
#include "shared/container/image_source.hpp"
#include "shared/container/launch.hpp"
#include "shared/container/mount_plan.hpp"
#include "shared/container/sandbox.hpp"
#include "shared/core/process_env.hpp"
#include "shared/core/read_file.hpp"
#include "shared/image/metadata.hpp"
#include "shared/sys/process.hpp"
#include "shared/sys/resolve.hpp"

extern char** environ;

namespace berth::cli {
namespace {

using namespace berth::container;

struct RunArgs {
  LaunchMode mode = LaunchMode::kExec;
  std::string image;
  std::vector<std::string> binds;
  bool writable = false;
  bool writableImage = false;  // --writable: Apptainer's spelling; a tmpfs layer for an image
  bool fakeroot = false;       // -f/--fakeroot: root inside (identity_mode.hpp)
  std::string userns;          // --userns: how (auto, subuid, single); empty: the site's
  std::string overlaySize;
  bool contain = false;
  bool noHome = false;
  bool cleanEnv = false;
  std::vector<std::string> envs;
  std::vector<std::string> envFiles;
  std::vector<std::string> hostEnv;
  std::string pwd;
  bool sandbox = false;
  std::optional<std::string> entrypoint;
  std::string asUser;
  std::string shell;
  std::vector<std::string> args;
  bool gpu = false;                 // --gpu / --nv
  std::string gpus;                 // --gpus LIST|all (implies --gpu)
  std::string gpuCaps;              // --gpu-caps (implies --gpu)
  std::string gpuDriverRoot;        // --gpu-driver-root (tests, debugging)
  std::vector<std::string> inject;  // --inject NAME,...: berth.conf inject sets
};

// The running container's pid, for forwarding termination signals (set while it runs).
volatile sig_atomic_t gChild = 0;

void forwardSignal(int sig) {
  if (gChild > 0)
    ::kill(gChild, sig);
}

// An env file is NAME=VALUE lines; a larger file is a mistake (or /dev/zero).
constexpr size_t kMaxEnvFileBytes = size_t{4} << 20;

Result<EnvironmentOptions> environmentOptions(const RunArgs& args, const sys::Identity& user,
                                              const config::SiteConfig& site) {
  EnvironmentOptions options;
  options.host = args.cleanEnv ? HostEnvironment::kClean : HostEnvironment::kPass;
  options.hostWins = args.hostEnv;
  options.siteHostOnly = site.hostOnlyEnv;
  // The caller's environment says who called (root, for --as-user): the container's user.
  options.user = user.name;
  options.home = user.home.string();
  for (const auto& file : args.envFiles) {
    BERTH_ASSIGN(std::string content, readRegularFile(file, kMaxEnvFileBytes));
    auto parsed = parseEnvFile(content);
    if (!parsed.ok())
      return std::move(parsed).error().withContext(fmt::format("env file `{}`", file));
    options.set.insert(options.set.end(), parsed->begin(), parsed->end());
  }
  for (const auto& entry : args.envs) {
    // --env NAME: the host's value wins over the image's (pyxis' --container-env).
    if (entry.find('=') == std::string::npos) {
      BERTH_ASSIGN(auto names, parseVariableNames(entry));
      options.hostWins.insert(options.hostWins.end(), names.begin(), names.end());
      continue;
    }
    BERTH_ASSIGN(auto assignment, parseEnvAssignment(entry));
    options.set.push_back(std::move(assignment));
  }
  return options;
}

// --gpu: the GPUs to inject (the driver is found where berth.conf says, or --gpu-driver-root).
Result<GpuWanted> gpuWanted(const RunArgs& args) {
  GpuWanted wanted;
  std::string caps =
      args.gpuCaps.empty() ? processEnv("NVIDIA_DRIVER_CAPABILITIES").value_or("") : args.gpuCaps;
  // Plain --gpu: every GPU of the machine (or of the Slurm step), and an error without any.
  BERTH_ASSIGN(wanted.request, gpu::parseGpuRequest(args.gpus.empty() ? "all" : args.gpus, caps));
  wanted.stepEnv = processEnv;
  wanted.driverRoot = args.gpuDriverRoot;
  return wanted;
}

// --fakeroot: root inside, mapped to `user` as --userns says (else the site's build_userns) as
// far as the host allows; for root, root itself.
// A sandbox changed in place keeps only the user's own ids (sandbox.hpp).
Result<std::optional<RootMapping>> rootMapping(const RunArgs& args, const sys::Identity& user,
                                               const config::SiteConfig& site, bool privileged,
                                               bool inPlace, const Logger& log) {
  if (!args.fakeroot) {
    if (!args.userns.empty())
      return Error("--userns goes with --fakeroot");
    return std::optional<RootMapping>();
  }
  UsernsChoice choice = inPlace ? UsernsChoice::kAuto : site.buildUserns;
  if (!args.userns.empty()) {
    BERTH_ASSIGN(choice, parseUsernsChoice(args.userns).withContext("--userns"));
  }
  BERTH_ASSIGN(choice, sandboxUsernsChoice(choice, inPlace));
  BERTH_ASSIGN(RootHostFacts facts, readRootHostFacts(user, privileged));
  BERTH_ASSIGN(RootMapping mapping, chooseRootMapping(choice, facts).withContext("--fakeroot"));
  log.verbose("--fakeroot: {} mode", rootModeName(mapping.mode));
  return std::optional<RootMapping>(std::move(mapping));
}

// /bin/bash when the image has it, else /bin/sh. Known before the command starts: a built
// image's %environment wrapper execs the shell itself (LaunchSpec::fallbacks cannot apply).
std::string defaultShell(const PreparedContainer& container, const ImageScripts& scripts) {
  if (scripts.environment && !sys::openInRoot(container.rootDirectory(), "bin/bash", O_PATH).ok())
    return "/bin/sh";
  return "/bin/bash";
}

Result<int> runContainer(const RunArgs& args, const Logger& log) {
  bool privileged = ::geteuid() == 0;
  sys::Identity user;
  if (!args.asUser.empty()) {
    if (!privileged)
      return Error("--as-user needs root");
    BERTH_ASSIGN(user, sys::lookupIdentity(args.asUser));
  } else {
    BERTH_ASSIGN(user, sys::lookupIdentity(::getuid()));
  }
  BERTH_ASSIGN(config::SiteConfig site, loadSite());
  BERTH_ASSIGN(ImageLocation image, locateImage(args.image, args.sandbox, cacheImageResolver(log)));
  // --writable of a sandbox directory: changes are kept in it.
  image.inPlace = args.writableImage && image.kind == ImageKind::kDirectory;
  BERTH_ASSIGN(std::optional<RootMapping> root,
               rootMapping(args, user, site, privileged, image.inPlace, log));

  std::error_code ec;
  std::string cwd = std::filesystem::current_path(ec).string();
  ContainerRequest wanted;
  wanted.image = image;
  wanted.user = user;
  wanted.unprivileged = !privileged;
  wanted.root = std::move(root);
  wanted.hostCwd = cwd;
  wanted.options.writable = args.writable || args.writableImage;
  wanted.options.overlaySize = args.overlaySize;
  wanted.options.contain = args.contain;
  wanted.options.noHome = args.noHome || !site.mountHome;
  wanted.options.workdir = args.pwd;
  for (const auto& bind : args.binds) {
    BERTH_ASSIGN(auto specs, parseMountSpecList(bind));
    specs = resolveSources(std::move(specs), cwd);
    wanted.options.binds.insert(wanted.options.binds.end(), specs.begin(), specs.end());
  }
  if (args.gpu || !args.gpus.empty() || !args.gpuCaps.empty()) {
    BERTH_ASSIGN(wanted.gpu, gpuWanted(args));
  }
  wanted.names = {.bind = "--bind", .workdir = "--pwd"};

  BERTH_ASSIGN(wanted.inject, injectWantedFrom(fmt::format("{}", fmt::join(args.inject, ",")), site)
                                  .withContext("--inject"));
  BERTH_ASSIGN(BuiltContainer built, buildContainer(site, wanted));
  for (const std::string& warning : built.inject.warnings)
    log.warning("MPI: {}", warning);
  for (const std::string& warning : built.gpu.injection.warnings)
    log.warning("GPU: {}", warning);
  PreparedContainer& container = built.prepared;
  const image::ImageConfig& config = built.config;
  BERTH_ASSIGN(EnvironmentOptions envOptions, environmentOptions(args, user, site));
  if (args.mode == LaunchMode::kTest && !built.scripts.test) {
    log.info("the image has no test (/.berth/test)");
    container.releaseInBackground();
    return 0;
  }

  CommandRequest request;
  request.mode = args.mode;
  request.args = args.args;
  if (!request.args.empty() && request.args.front() == "--")
    request.args.erase(request.args.begin());
  request.entrypoint = args.entrypoint;
  request.shell = args.shell.empty() ? defaultShell(container, built.scripts) : args.shell;
  request.scripts = built.scripts;
  LaunchSpec spec;
  spec.syscallFilter = built.syscallFilter;
  spec.joinAs = built.joinAs;
  BERTH_ASSIGN(spec.argv, containerCommand(config, request));
  if (args.mode == LaunchMode::kShell && args.shell.empty())
    spec.fallbacks = {"/bin/sh"};
  EnvList host;
  for (char** entry = environ; *entry; ++entry)
    host.emplace_back(*entry);
  spec.env = containerEnvironment(config.env, host, envOptions);
  if (built.scripts.environment)
    spec.argv =
        sourcingImageEnvironment(spec.argv, spec.env, namesOverImageScript(host, envOptions));
  // One line and no command when the image's CUDA needs a newer driver.
  BERTH_ASSIGN(spec.env,
               checkGpuAndEnvironment(built.gpu, container, config.labels, std::move(spec.env)));
  spec.env = applyGpuEnvironment(std::move(spec.env), built.inject.env);
  // The same rule as a Slurm task's; the mount plan knows whether the caller's directory is
  // inside, and chdir names a missing --pwd.
  BERTH_ASSIGN(
      spec.workingDir,
      workingDirectory(
          {.requested = args.pwd.empty() ? std::nullopt : std::optional<std::string>(args.pwd),
           .callerDir = built.plan.hostCwdInside.value_or(""),
           .imageWorkdir = config.workingDir,
           .exists = {}},
          wanted.names));

  // Like system(3): the terminal's SIGINT/SIGQUIT reach the container directly; we wait.
  // Termination requests sent to berth itself are passed on.
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGQUIT, SIG_IGN);
  for (int sig : {SIGTERM, SIGHUP, SIGUSR1, SIGUSR2})
    ::signal(sig, forwardSignal);
  BERTH_ASSIGN(pid_t pid, spawnInContainer(container, built.runAs, spec));
  gChild = pid;
  BERTH_ASSIGN(int status, sys::waitForProcess(pid));
  gChild = 0;
  // berth exits next: the container's teardown need not delay the user's prompt.
  container.releaseInBackground();
  if (image.inPlace && user.uid != 0) {
    BERTH_ASSIGN(RemovableFix fix, makeSandboxRemovable(image.path, user.uid));
    if (fix.directories > 0)
      log.verbose("sandbox: u+rwx given back on {} directories", fix.directories);
  }
  return sys::exitCodeFromWaitStatus(status);
}

void addCommonOptions(CLI::App* command, RunArgs& args) {
  command
      ->add_option("-B,--bind", args.binds, "Bind SRC[:DST[:ro|rw]] (comma-separated, repeatable)")
      ->allow_extra_args(false);
  command->add_flag("-w,--writable-tmpfs", args.writable,
                    "Make the image writable; changes go to a tmpfs and vanish at exit");
  command->add_flag("--writable", args.writableImage,
                    "For a sandbox directory: change it in place (mount points it lacks are "
                    "skipped); for an image file: the same as --writable-tmpfs (the file never "
                    "changes)");
  command->add_option("--overlay-size", args.overlaySize, "Size of that tmpfs (e.g. 2g)");
  command->add_flag("-f,--fakeroot", args.fakeroot,
                    "Be root inside: a user namespace where root is you (your subordinate ids "
                    "map to the others), or root itself when you are root");
  command->add_option("--userns", args.userns,
                      "With --fakeroot: auto (default), subuid (your /etc/subuid range: exact "
                      "owners) or single (one id: chown and friends only pretend)");
  command->add_flag("-c,--contain", args.contain, "Private /tmp, /var/tmp and a minimal /dev");
  command->add_flag("--no-home", args.noHome, "Do not bind the home directory");
  command->add_flag("-e,--cleanenv", args.cleanEnv,
                    "Pass only HOME, USER, LOGNAME, TERM, TMPDIR and launcher variables (SLURM_*, "
                    "PMIX_*, ...) of the host environment");
  command
      ->add_option("--env", args.envs,
                   "NAME=VALUE: set it inside; NAME[,NAME...]: the host's value wins over the "
                   "image's (repeatable)")
      ->allow_extra_args(false);
  command->add_option("--env-file", args.envFiles, "Read NAME=VALUE lines from a file")
      ->allow_extra_args(false);
  command->add_option("--host-env", args.hostEnv, "Same as --env NAME (repeatable)")
      ->allow_extra_args(false);
  command->add_option("--pwd", args.pwd, "Working directory inside the container");
  command->add_flag("--sandbox", args.sandbox, "IMAGE is a directory (sandbox image)");
  command->add_flag("--gpu,--nv", args.gpu,
                    "Inject the host's NVIDIA driver and GPUs (all, or the Slurm step's)");
  command->add_option("--gpus", args.gpus,
                      "With --gpu: GPUs to give, LIST (0,2 or 0-3: N of /dev/nvidiaN) or all");
  command->add_option("--gpu-caps", args.gpuCaps,
                      "With --gpu: driver capabilities (compute,utility,video,graphics,display or "
                      "all; default NVIDIA_DRIVER_CAPABILITIES or compute,utility)");
  command->add_option("--inject", args.inject,
                      "Add the site's inject sets NAME,... (berth.conf: host libraries, files, "
                      "devices, variables; none: not even the default ones)");
  command->add_option("--gpu-driver-root", args.gpuDriverRoot,
                      "Debug/tests: look for the NVIDIA driver under DIR (version file, "
                      "ld.so.cache, /dev, /proc)");
  command->add_option("--as-user", args.asUser,
                      "Root only: run as USER, checking binds with USER's permissions");
  command->add_option("image", args.image, "Squashfs image file, sandbox directory or reference")
      ->required();
  // Everything after IMAGE belongs to the container's command, options included.
  command->add_option("args", args.args, "Command and arguments");
  command->positionals_at_end();
  command->footer("Everything after IMAGE is the command and its arguments.");
}

}  // namespace

void addRunCommands(CLI::App& app, Invocation& invocation) {
  static RunArgs args;  // lives as long as main's app
  struct Mode {
    const char* name;
    const char* description;
    LaunchMode mode;
  };
  for (const Mode& mode :
       {Mode{"run", "Run an image's runscript, else its entrypoint/command", LaunchMode::kRun},
        Mode{"exec", "Run a command inside an image", LaunchMode::kExec},
        Mode{"shell", "Start an interactive shell inside an image", LaunchMode::kShell},
        Mode{"test", "Run a built image's test (/.berth/test); its exit status is berth's",
             LaunchMode::kTest}}) {
    CLI::App* command = app.add_subcommand(mode.name, mode.description);
    addCommonOptions(command, args);
    if (mode.mode == LaunchMode::kRun)
      command->add_option_function<std::string>(
          "--entrypoint", [](const std::string& value) { args.entrypoint = value; },
          "Replace the image's ENTRYPOINT (\"\" clears it)");
    if (mode.mode == LaunchMode::kShell)
      command->add_option("-s,--shell", args.shell, "Shell to start (default /bin/bash, /bin/sh)");
    command->callback([&invocation, launch = mode.mode] {
      args.mode = launch;
      invocation.action = [&invocation] { return runContainer(args, invocation.log); };
    });
  }
}

}  // namespace berth::cli
