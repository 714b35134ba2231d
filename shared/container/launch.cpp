#include "shared/container/launch.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "shared/core/strings.hpp"
#include "shared/sys/process.hpp"

namespace berth::container {
namespace {

// execve of `file` for each directory of PATH, like execvpe but with the container's PATH.
// Returns the most telling errno when nothing could be executed.
int execInPath(const std::string& file, char* const argv[], char* const envp[],
               const std::string& path) {
  if (file.find('/') != std::string::npos) {
    ::execve(file.c_str(), argv, envp);
    return errno;
  }
  int result = ENOENT;
  for (const std::string& candidate : commandCandidates(file, path)) {
    ::execve(candidate.c_str(), argv, envp);
    if (errno != ENOENT && errno != ENOTDIR)
      result = errno;
  }
  return result;
}

[[noreturn]] void fail(int errorPipe, const std::string& message) {
  (void)sys::writeAll(errorPipe, message);
  ::_exit(127);
}

// The command dies with berth: killed (kill -9) or crashed, berth can no longer take the
// container down, and an orphaned command would keep the image mounted (in privileged mode its
// loop device attached) for as long as it runs. Set after the credentials change, which clears
// it; then the race check: a parent that died before it was set never sends the signal.
void dieWithParent(pid_t parent, int errorPipe) {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
    fail(errorPipe, Error::fromErrno(errno, "tie the command to berth's lifetime").message());
  if (::getppid() != parent)
    ::_exit(128 + SIGKILL);
}

[[noreturn]] void runChild(const PreparedContainer& container, const sys::Identity& user,
                           const LaunchSpec& spec, pid_t parent, int errorPipe) {
  // Back to default dispositions: the parent may ignore SIGINT while it waits.
  for (int sig : {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGPIPE})
    ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (spec.joinAs) {
    if (Status s = sys::dropPrivileges(*spec.joinAs); !s.ok())
      fail(errorPipe, s.error().message());
  }
  if (Status s = joinContainer(container); !s.ok())
    fail(errorPipe, s.error().message());
  if (Status s = sys::dropPrivileges(user); !s.ok())
    fail(errorPipe, s.error().message());
  if (Status s = sys::setNoNewPrivileges(); !s.ok())
    fail(errorPipe, s.error().message());
  dieWithParent(parent, errorPipe);
  // After dropping privileges: the user must be able to enter the directory.
  if (::chdir(spec.workingDir.c_str()) != 0)
    fail(errorPipe,
         Error::fromErrno(errno, fmt::format("working directory `{}`", spec.workingDir)).message());
  // Last: from here on chown, set*id and friends only pretend.
  if (spec.syscallFilter) {
    if (Status s = sys::installSyscallFilter(*spec.syscallFilter); !s.ok())
      fail(errorPipe, s.error().message());
  }
  std::vector<char*> envp;
  for (const auto& entry : spec.env)
    envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  const std::string* pathEntry = findEnv(spec.env, "PATH");
  std::string path = pathEntry ? pathEntry->substr(5) : std::string(kDefaultSearchPath);
  std::vector<std::string> candidates{spec.argv[0]};
  candidates.insert(candidates.end(), spec.fallbacks.begin(), spec.fallbacks.end());
  int error = ENOENT;
  for (const auto& candidate : candidates) {
    std::vector<std::string> args = spec.argv;
    args[0] = candidate;
    std::vector<char*> argv;
    for (auto& arg : args)
      argv.push_back(arg.data());
    argv.push_back(nullptr);
    error = execInPath(candidate, argv.data(), envp.data(), path);
    if (error != ENOENT)
      break;
  }
  if (error == ENOENT)
    fail(errorPipe, fmt::format("command `{}` not found in the image", spec.argv[0]));
  fail(errorPipe, Error::fromErrno(error, fmt::format("execute `{}`", spec.argv[0])).message());
}

}  // namespace

std::vector<std::string> commandCandidates(const std::string& command, std::string_view path) {
  if (command.find('/') != std::string::npos)
    return {command};
  std::vector<std::string> candidates;
  for (const std::string& dir : split(path, ':'))
    candidates.push_back((dir.empty() ? std::string(".") : dir) + "/" + command);
  return candidates;
}

std::optional<std::string> findInPath(const std::string& command, std::string_view path,
                                      const std::function<bool(const std::string&)>& executable) {
  if (command.empty())
    return std::nullopt;
  if (command.find('/') != std::string::npos)
    return command;
  for (const std::string& candidate : commandCandidates(command, path)) {
    if (executable(candidate))
      return candidate;
  }
  return std::nullopt;
}

Result<pid_t> spawnInContainer(const PreparedContainer& container, const sys::Identity& user,
                               const LaunchSpec& spec) {
  if (spec.argv.empty())
    return Error("no command to run");
  BERTH_ASSIGN(auto pipe, sys::makePipe());
  auto [readEnd, writeEnd] = std::move(pipe);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0)
    return errnoError("fork");
  if (pid == 0) {
    readEnd.reset();
    runChild(container, user, spec, parent, writeEnd.get());
  }
  writeEnd.reset();
  // The pipe closes on a successful exec (close-on-exec) or carries the child's error.
  BERTH_ASSIGN(std::string message, sys::readAll(readEnd.get()));
  if (message.empty())
    return pid;
  (void)sys::waitForProcess(pid);
  return Error(message);
}

}  // namespace berth::container
