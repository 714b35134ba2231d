#include "shared/container/entrypoint.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include "shared/sys/resolve.hpp"

namespace berth::container {
namespace {

std::string absoluteMetadataPath(std::string_view file) {
  return "/" + std::string(file);
}

}  // namespace

ImageScripts findImageScripts(int rootFd) {
  auto isFile = [rootFd](std::string_view file) {
    auto fd = sys::openInRoot(rootFd, std::string(file), O_PATH);
    struct stat st {};
    return fd.ok() && ::fstat(fd->get(), &st) == 0 && S_ISREG(st.st_mode);
  };
  return {.runscript = isFile(image::kRunscriptFile),
          .test = isFile(image::kTestFile),
          .environment = isFile(image::kEnvironmentFile)};
}

std::vector<std::string> sourcingImageEnvironment(const std::vector<std::string>& argv,
                                                  const EnvList& env,
                                                  const std::vector<std::string>& keep) {
  std::string script = ". " + absoluteMetadataPath(image::kEnvironmentFile) + "\n";
  for (const std::string& name : keep) {
    if (const std::string* entry = findEnv(env, name))
      script += "export " + name + "=" + shellQuoted(entry->substr(name.size() + 1)) + "\n";
  }
  script += "exec \"$@\"\n";
  // $0 names the wrapper in the shell's own messages; "$@" is argv.
  std::vector<std::string> wrapped{std::string(kScriptShell), "-c", script, "berth"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

Result<std::vector<std::string>> containerCommand(const image::ImageConfig& config,
                                                  const CommandRequest& request) {
  auto script = [&](std::string_view file) {
    std::vector<std::string> argv{std::string(kScriptShell), absoluteMetadataPath(file)};
    argv.insert(argv.end(), request.args.begin(), request.args.end());
    return argv;
  };
  switch (request.mode) {
    case LaunchMode::kTest:
      if (!request.scripts.test)
        return Error("the image has no test (/.berth/test)");
      return script(image::kTestFile);
    case LaunchMode::kExec:
      if (request.args.empty())
        return Error("no command given to run in the image");
      return request.args;
    case LaunchMode::kShell: {
      std::vector<std::string> argv{request.shell};
      argv.insert(argv.end(), request.args.begin(), request.args.end());
      return argv;
    }
    case LaunchMode::kRun:
      break;
  }
  // A built image's runscript is what `run` means (Apptainer); --entrypoint still overrides.
  if (request.scripts.runscript && !request.entrypoint)
    return script(image::kRunscriptFile);
  // Docker: --entrypoint replaces ENTRYPOINT and resets CMD; arguments replace CMD.
  std::vector<std::string> argv;
  if (request.entrypoint) {
    if (!request.entrypoint->empty())
      argv.push_back(*request.entrypoint);
  } else {
    argv = config.entrypoint;
  }
  if (!request.args.empty())
    argv.insert(argv.end(), request.args.begin(), request.args.end());
  else if (!request.entrypoint)
    argv.insert(argv.end(), config.cmd.begin(), config.cmd.end());
  if (argv.empty())
    return Error("the image has no entrypoint or command: give a command (berth run IMAGE CMD...)");
  return argv;
}

}  // namespace berth::container

#include <fmt/format.h>

namespace berth::container {

Result<std::string> workingDirectory(const WorkdirChoice& choice, const ItemNames& names) {
  auto usable = [&](const std::string& dir) {
    return !dir.empty() && (!choice.exists || choice.exists(dir));
  };
  if (choice.requested) {
    if (!usable(*choice.requested))
      return Error(fmt::format("{}={}: no such directory in the container", names.workdir,
                               *choice.requested));
    return *choice.requested;
  }
  // "/" says nothing about where the user wants to be: the image's WorkingDir is better.
  if (choice.callerDir != "/" && usable(choice.callerDir))
    return choice.callerDir;
  if (usable(choice.imageWorkdir))
    return choice.imageWorkdir;
  return std::string("/");
}

Status checkPlatform(const image::ImageConfig& config, std::string_view hostPlatform) {
  if (config.architecture.empty())
    return okStatus();
  std::string image = image::platformString(config);
  // Compare os/architecture; a variant (v8, v7) only matters when both name one.
  std::string_view host = hostPlatform;
  std::string imageBase = (config.os.empty() ? "linux" : config.os) + "/" + config.architecture;
  if (host.starts_with(imageBase) &&
      (host.size() == imageBase.size() || host[imageBase.size()] == '/'))
    return okStatus();
  return Error(
      fmt::format("the image is for {}, this host is {}: it cannot run here", image, hostPlatform));
}

}  // namespace berth::container
