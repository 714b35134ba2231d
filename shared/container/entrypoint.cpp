#include "shared/container/entrypoint.hpp"

namespace berth::container {

Result<std::vector<std::string>> containerCommand(const image::ImageConfig& config,
                                                  const CommandRequest& request) {
  switch (request.mode) {
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
