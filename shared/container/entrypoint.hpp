// Which argv a container starts: Docker's ENTRYPOINT/CMD rules for `run`, the given command
// for `exec`, a shell for `shell`.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "shared/container/options.hpp"
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

// run:   (--entrypoint or image Entrypoint) + (args, or image Cmd unless --entrypoint was given);
//        the Slurm task with the image's entrypoint: Entrypoint + the task's command
// exec:  args (at least one)
// shell: shell [args...]
[[nodiscard]] Result<std::vector<std::string>> containerCommand(const image::ImageConfig& config,
                                                                const CommandRequest& request);

}  // namespace berth::container

namespace berth::container {

// Where a command starts, for every face: the requested directory (--pwd,
// --container-workdir), which must exist; else the caller's directory when the container has
// it (home and binds are at their host paths); else the image's WorkingDir when it exists;
// else "/".
struct WorkdirChoice {
  std::optional<std::string> requested;
  std::string callerDir;  // the caller's directory, a path inside; empty: none
  std::string imageWorkdir;
  // Whether a directory exists inside the container (the Slurm task, which is inside). Empty:
  // the candidates are taken as they are and the chdir names a missing one (the CLI: its mount
  // plan knows whether the caller's directory is inside).
  std::function<bool(const std::string&)> exists;
};
[[nodiscard]] Result<std::string> workingDirectory(const WorkdirChoice& choice,
                                                   const ItemNames& names);

// A clear error when the image was built for another CPU architecture than this host's.
[[nodiscard]] Status checkPlatform(const image::ImageConfig& config, std::string_view hostPlatform);

}  // namespace berth::container
