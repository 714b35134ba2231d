// Which argv a container starts: Docker's ENTRYPOINT/CMD rules for `run` (a built image's
// runscript first), the given command for `exec`, a shell for `shell`, the image's test for
// `test`; and a built image's %environment script sourced before any of them.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "shared/container/environment.hpp"
#include "shared/container/options.hpp"
#include "shared/core/result.hpp"
#include "shared/image/metadata.hpp"

namespace berth::container {

enum class LaunchMode { kRun, kExec, kShell, kTest };

// The scripts a built image keeps under /.berth/ (metadata.hpp) that change what starts.
struct ImageScripts {
  bool runscript = false;    // /.berth/runscript (%runscript)
  bool test = false;         // /.berth/test (%test)
  bool environment = false;  // /.berth/environment (%environment)
};

// Which of them the container root open as `rootFd` holds (regular files, found inside the root).
ImageScripts findImageScripts(int rootFd);

// The shell that runs the image's scripts, as Apptainer runs its runscript and test.
inline constexpr std::string_view kScriptShell = "/bin/sh";

struct CommandRequest {
  LaunchMode mode = LaunchMode::kExec;
  std::vector<std::string> args;          // after IMAGE on the command line
  std::optional<std::string> entrypoint;  // --entrypoint (run only); "" clears the image's
  std::string shell = "/bin/sh";          // shell mode
  ImageScripts scripts;                   // what the image holds (findImageScripts)
};

// run:   /bin/sh /.berth/runscript args... when the image has a runscript and no --entrypoint
//        was given; else (--entrypoint or image Entrypoint) + (args, or image Cmd unless
//        --entrypoint was given); the Slurm task with the image's entrypoint: the same with the
//        task's command as args
// exec:  args (at least one)
// shell: shell [args...]
// test:  /bin/sh /.berth/test args... (an error when the image has no test: the face says so)
[[nodiscard]] Result<std::vector<std::string>> containerCommand(const image::ImageConfig& config,
                                                                const CommandRequest& request);

// A built image's %environment: /bin/sh sources /.berth/environment in the container, sets
// again the values of `keep` as `env` has them (what the user and the launcher set wins over
// the script: namesOverImageScript in environment.hpp), then execs `argv` (looked up in the
// PATH the script left). Returns the argv that does this.
std::vector<std::string> sourcingImageEnvironment(const std::vector<std::string>& argv,
                                                  const EnvList& env,
                                                  const std::vector<std::string>& keep);

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
