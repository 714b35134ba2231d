// Subcommands whose issues have not landed. Each moves to a file of its own when it does.
#include "image_tool/command.hpp"

namespace berth::cli {

void addRunCommands(CLI::App& app, Invocation& invocation) {
  addNotImplementedCommand(app, invocation, "run", "Run an image's entrypoint/command");
  addNotImplementedCommand(app, invocation, "exec", "Run a command inside an image");
  addNotImplementedCommand(app, invocation, "shell", "Start an interactive shell inside an image");
}
void addInspectCommand(CLI::App& app, Invocation& invocation) {
  addNotImplementedCommand(app, invocation, "inspect", "Show an image's metadata");
}
void addBuildCommand(CLI::App& app, Invocation& invocation) {
  addNotImplementedCommand(app, invocation, "build",
                           "Build an image from a definition file or Dockerfile");
}
void addPushCommand(CLI::App& app, Invocation& invocation) {
  addNotImplementedCommand(app, invocation, "push", "Push an image to a registry");
}
void addInfoCommand(CLI::App& app, Invocation& invocation) {
  addNotImplementedCommand(app, invocation, "info",
                           "Show what berth finds on this host (GPUs, config)");
}

}  // namespace berth::cli
