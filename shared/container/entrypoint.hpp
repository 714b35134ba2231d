// Which argv a container starts: Docker's ENTRYPOINT/CMD rules for `run`, the given command
// for `exec`, a shell for `shell`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "shared/core/result.hpp"
#include "shared/image/metadata.hpp"

namespace berth::container {

enum class LaunchMode { kRun, kExec, kShell };

struct CommandRequest {
  LaunchMode mode = LaunchMode::kExec;
  std::vector<std::string> args;          // after IMAGE on the command line
  std::optional<std::string> entrypoint;  // --entrypoint (run only); "" clears the image's
  std::string shell = "/bin/sh";          // shell mode
};

// run:   (--entrypoint or image Entrypoint) + (args, or image Cmd unless --entrypoint was given)
// exec:  args (at least one)
// shell: shell [args...]
[[nodiscard]] Result<std::vector<std::string>> containerCommand(const image::ImageConfig& config,
                                                                const CommandRequest& request);

}  // namespace berth::container

namespace berth::container {

// Where the command starts: --pwd, else the host's current directory when it is bound into
// the container, else the image's WorkingDir, else "/".
std::string workingDirectory(const std::optional<std::string>& pwd,
                             const std::optional<std::string>& hostCwdInside,
                             const image::ImageConfig& config);

// A clear error when the image was built for another CPU architecture than this host's.
[[nodiscard]] Status checkPlatform(const image::ImageConfig& config, std::string_view hostPlatform);

}  // namespace berth::container
