// Subcommands whose issues have not landed. Each moves to a file of its own when it does.
#include "image_tool/command.hpp"

namespace berth::cli {

void addBuildCommand(CLI::App& app, Invocation& invocation) {
  addNotImplementedCommand(app, invocation, "build",
                           "Build an image from a definition file or Dockerfile");
}

}  // namespace berth::cli
