#include "shared/build/step_container.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>

#include <fmt/format.h>

#include "shared/container/launch.hpp"
#include "shared/core/strings.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/sys/process.hpp"
#include "shared/sys/resolve.hpp"
#include "shared/sys/user_namespace.hpp"

namespace berth::build {
namespace {

namespace fs = std::filesystem;

std::optional<uint32_t> parseId(std::string_view text) {
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return std::nullopt;
  return value;
}

// Field `index` (0-based) of the line of a passwd/group file whose first field is `name`.
std::optional<std::string> lookupField(std::string_view file, std::string_view name, size_t index) {
  for (const std::string& line : split(file, '\n')) {
    std::vector<std::string> fields = split(line, ':');
    if (fields.size() > index && fields[0] == name)
      return fields[index];
  }
  return std::nullopt;
}

// Runs `body` in a forked child after `enter` (both in the child); the child's error message
// comes back through a pipe.
Status runInChild(const std::function<Status()>& enter, const std::function<Status()>& body) {
  BERTH_ASSIGN(auto pipe, sys::makePipe());
  auto [readEnd, writeEnd] = std::move(pipe);
  pid_t pid = ::fork();
  if (pid < 0)
    return errnoError("fork");
  if (pid == 0) {
    readEnd.reset();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    Status status = enter();
    if (status.ok())
      status = body();
    if (!status.ok()) {
      std::string message = status.error().message();
      (void)!::write(writeEnd.get(), message.data(), message.size());
      ::_exit(1);
    }
    ::_exit(0);
  }
  writeEnd.reset();
  BERTH_ASSIGN(std::string message, sys::readAll(readEnd.get()));
  BERTH_ASSIGN(int status, sys::waitForProcess(pid));
  if (!message.empty())
    return Error(message);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error(fmt::format("child failed (status {})", sys::exitCodeFromWaitStatus(status)));
  return okStatus();
}

}  // namespace

Result<ImageOwner> resolveImageOwner(std::string_view spec, std::string_view passwd,
                                     std::string_view group) {
  ImageOwner owner;
  size_t colon = spec.find(':');
  std::string userPart(spec.substr(0, colon));
  std::optional<std::string> groupPart;
  if (colon != std::string_view::npos)
    groupPart = std::string(spec.substr(colon + 1));
  if (auto uid = parseId(userPart)) {
    // A numeric user: its primary group where the image knows the uid, else root's group.
    owner.uid = *uid;
    for (const std::string& line : split(passwd, '\n')) {
      std::vector<std::string> fields = split(line, ':');
      if (fields.size() > 3 && fields[2] == userPart)
        owner.gid = parseId(fields[3]).value_or(0);
    }
  } else {
    auto uidField = lookupField(passwd, userPart, 2);
    auto gidField = lookupField(passwd, userPart, 3);
    if (!uidField || !parseId(*uidField))
      return Error(fmt::format("user `{}` is not in the image's /etc/passwd", userPart));
    owner.uid = *parseId(*uidField);
    owner.gid = gidField ? parseId(*gidField).value_or(0) : 0;
  }
  if (groupPart) {
    if (auto gid = parseId(*groupPart)) {
      owner.gid = *gid;
    } else {
      auto found = lookupField(group, *groupPart, 2);
      if (!found || !parseId(*found))
        return Error(fmt::format("group `{}` is not in the image's /etc/group", *groupPart));
      owner.gid = *parseId(*found);
    }
  }
  return owner;
}

Result<StepContainer> StepContainer::open(const config::SiteConfig& site,
                                          const StepIdentity& identity, const StepLayers& layers,
                                          const std::string& workdir) {
  container::ContainerRequest request;
  request.image = {container::ImageKind::kSquashfs, layers.image};
  request.user = identity.user;
  request.unprivileged = identity.unprivileged;
  request.root = identity.root;
  request.options.writable = true;
  request.options.contain = true;  // the image's own /tmp and a minimal /dev
  request.options.noHome = true;
  request.options.workdir = workdir;
  request.layersAbove = layers.below;
  if (!layers.layerDir.empty())
    request.persistentLayer = layers.layerDir;
  request.names = {.bind = "bind", .workdir = "WORKDIR"};
  BERTH_ASSIGN(container::BuiltContainer built, container::buildContainer(site, request));
  return StepContainer(std::move(built));
}

Result<int> StepContainer::run(const StepCommand& command) const {
  sys::Identity runAs = built_.runAs;
  if (!command.user.empty() && command.user != "root" && command.user != "0") {
    int root = rootDirectory();
    auto passwd = sys::readFileInRoot(root, "/etc/passwd", 1 << 22);
    auto group = sys::readFileInRoot(root, "/etc/group", 1 << 22);
    BERTH_ASSIGN(ImageOwner owner,
                 resolveImageOwner(command.user, passwd.ok() ? *passwd : std::string(),
                                   group.ok() ? *group : std::string())
                     .withContext("USER"));
    runAs = {};
    runAs.uid = owner.uid;
    runAs.gid = owner.gid;
    runAs.name = command.user;
  }
  container::LaunchSpec spec;
  spec.argv = command.argv;
  spec.env = command.env;
  spec.workingDir = command.workdir.empty() ? "/" : command.workdir;
  spec.syscallFilter = built_.syscallFilter;
  spec.joinAs = built_.joinAs;
  // The step's output goes to stderr with berth's progress: stdout is the build's result.
  UniqueFd stdoutCopy(::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3));
  ::dup2(STDERR_FILENO, STDOUT_FILENO);
  auto spawned = container::spawnInContainer(built_.prepared, runAs, spec);
  if (stdoutCopy)
    ::dup2(stdoutCopy.get(), STDOUT_FILENO);
  BERTH_ASSIGN(pid_t pid, std::move(spawned));
  BERTH_ASSIGN(int status, sys::waitForProcess(pid));
  return sys::exitCodeFromWaitStatus(status);
}

Status StepContainer::runAsRoot(const std::function<Status()>& body) const {
  auto enter = [this]() -> Status {
    if (built_.joinAs)
      BERTH_TRY(sys::dropPrivileges(*built_.joinAs));
    BERTH_TRY(container::joinContainer(built_.prepared));
    BERTH_TRY(sys::dropPrivileges(built_.runAs));
    if (::chdir("/") != 0)
      return errnoError("chdir /");
    if (built_.syscallFilter)
      BERTH_TRY(sys::installSyscallFilter(*built_.syscallFilter));
    return okStatus();
  };
  return runInChild(enter, body);
}

LayerWriteOptions layerOptionsFor(const StepIdentity& identity) {
  LayerWriteOptions options;
  if (identity.root.mode == container::RootMode::kIdentity)
    return options;
  for (const sys::IdRange& range : identity.root.maps.uids)
    options.uidMap.push_back({range.inside, range.outside, range.count});
  for (const sys::IdRange& range : identity.root.maps.gids)
    options.gidMap.push_back({range.inside, range.outside, range.count});
  return options;
}

Status removeBuildTree(const StepIdentity& identity, const fs::path& dir) {
  auto removeAll = [&dir]() -> Status {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec)
      return Error(fmt::format("remove `{}`: {}", dir.string(), ec.message()));
    return okStatus();
  };
  if (identity.root.mode == container::RootMode::kIdentity)
    return removeAll();
  // A child makes a user namespace with the build's maps (written by us, as for the steps);
  // its root may remove files of every mapped id.
  BERTH_ASSIGN(auto ready, sys::makePipe());
  BERTH_ASSIGN(auto mapped, sys::makePipe());
  BERTH_ASSIGN(auto errors, sys::makePipe());
  pid_t pid = ::fork();
  if (pid < 0)
    return errnoError("fork");
  if (pid == 0) {
    ready.first.reset();
    mapped.second.reset();
    errors.first.reset();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    Status status = sys::enterUserNamespace();
    char byte = 0;
    (void)!::write(ready.second.get(), &byte, 1);
    ready.second.reset();
    if (status.ok() && ::read(mapped.first.get(), &byte, 1) != 1)
      status = Error("the user namespace's maps were not written");
    if (status.ok() && ::setresuid(0, 0, 0) != 0)
      status = errnoError("become root in the user namespace");
    if (status.ok())
      status = removeAll();
    if (!status.ok()) {
      std::string message = status.error().message();
      (void)!::write(errors.second.get(), message.data(), message.size());
      ::_exit(1);
    }
    ::_exit(0);
  }
  ready.second.reset();
  mapped.first.reset();
  errors.second.reset();
  char byte = 0;
  Status status = okStatus();
  if (::read(ready.first.get(), &byte, 1) != 1)
    status = Error("the clean-up child died");
  if (status.ok())
    status = sys::writeIdMaps(pid, identity.root.maps);
  if (status.ok())
    (void)!::write(mapped.second.get(), &byte, 1);
  mapped.second.reset();
  BERTH_ASSIGN(std::string message, sys::readAll(errors.first.get()));
  BERTH_ASSIGN(int wait, sys::waitForProcess(pid));
  if (!status.ok())
    return status;
  if (!message.empty())
    return Error(message);
  if (!WIFEXITED(wait) || WEXITSTATUS(wait) != 0)
    return Error(fmt::format("remove `{}`: clean-up failed", dir.string()));
  return okStatus();
}

}  // namespace berth::build
