#include "shared/sys/user_namespace.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "shared/core/process_env.hpp"
#include "shared/core/strings.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/sys/process.hpp"

namespace berth::sys {
namespace {

Status writeProcFile(const std::string& path, const std::string& content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd)
    return errnoError(fmt::format("open {}", path));
  return writeAll(fd.get(), content).withContext(path);
}

bool mapsOnlySelf(const std::vector<IdRange>& ranges, uint32_t self) {
  return ranges.size() == 1 && ranges[0].count == 1 && ranges[0].outside == self;
}

// Runs `helper PID INSIDE OUTSIDE COUNT...`; its stderr becomes the error.
Status runMapHelper(const std::filesystem::path& helper, pid_t pid,
                    const std::vector<IdRange>& ranges) {
  std::vector<std::string> args{helper.string(), std::to_string(pid)};
  for (const IdRange& range : ranges) {
    args.push_back(std::to_string(range.inside));
    args.push_back(std::to_string(range.outside));
    args.push_back(std::to_string(range.count));
  }
  std::vector<char*> argv;
  for (std::string& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  BERTH_ASSIGN(auto pipe, makePipe());
  auto [readEnd, writeEnd] = std::move(pipe);
  pid_t child = ::fork();
  if (child < 0)
    return errnoError(fmt::format("start {}", helper.string()));
  if (child == 0) {
    ::dup2(writeEnd.get(), STDERR_FILENO);
    ::dup2(writeEnd.get(), STDOUT_FILENO);
    char* const envp[] = {nullptr};
    ::execve(argv[0], argv.data(), envp);
    ::_exit(127);
  }
  writeEnd.reset();
  Result<std::string> output = readAll(readEnd.get());
  BERTH_ASSIGN(int status, waitForProcess(child));
  std::string said(trim(output.ok() ? *output : std::string()));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return okStatus();
  if (said.empty())
    said = WIFEXITED(status) && WEXITSTATUS(status) == 127
               ? "could not be run"
               : fmt::format("exit status {}", exitCodeFromWaitStatus(status));
  return Error(fmt::format("{}: {}", helper.filename().string(), said));
}

}  // namespace

Status enterUserNamespaceAsSelf(uid_t uid, gid_t gid) {
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
    return errnoError("create user namespace (are unprivileged user namespaces enabled?)");
  BERTH_TRY(writeProcFile("/proc/self/setgroups", "deny"));
  BERTH_TRY(writeProcFile("/proc/self/uid_map", fmt::format("{} {} 1\n", uid, uid)));
  BERTH_TRY(writeProcFile("/proc/self/gid_map", fmt::format("{} {} 1\n", gid, gid)));
  return okStatus();
}

Status enterUserNamespace() {
  if (::unshare(CLONE_NEWUSER) != 0)
    return errnoError("create user namespace (are unprivileged user namespaces enabled?)");
  return okStatus();
}

Status enterMountNamespace() {
  if (::unshare(CLONE_NEWNS) != 0)
    return errnoError("create mount namespace");
  return okStatus();
}

Status joinNamespace(int fd, int nstype) {
  if (::setns(fd, nstype) != 0)
    return errnoError(nstype == CLONE_NEWUSER ? "join user namespace" : "join mount namespace");
  return okStatus();
}

std::string idMapText(const std::vector<IdRange>& ranges) {
  std::string text;
  for (const IdRange& range : ranges)
    text += fmt::format("{} {} {}\n", range.inside, range.outside, range.count);
  return text;
}

MapWriter mapWriterFor(const IdMaps& maps, uid_t euid, gid_t egid) {
  if (euid == 0)
    return MapWriter::kDirect;
  if (maps.denySetgroups && mapsOnlySelf(maps.uids, euid) && mapsOnlySelf(maps.gids, egid))
    return MapWriter::kDirect;
  return MapWriter::kSetuidHelpers;
}

Result<MapHelpers> findMapHelpers() {
  std::string path = processEnv("PATH").value_or("");
  path += ":/usr/bin:/usr/sbin:/bin:/sbin";
  auto find = [&](std::string_view name) -> std::filesystem::path {
    for (const std::string& dir : split(path, ':')) {
      if (dir.empty() || dir.front() != '/')
        continue;
      std::filesystem::path candidate = std::filesystem::path(dir) / name;
      if (::access(candidate.c_str(), X_OK) == 0)
        return candidate;
    }
    return {};
  };
  MapHelpers helpers{find("newuidmap"), find("newgidmap")};
  if (helpers.newuidmap.empty() || helpers.newgidmap.empty())
    return Error("newuidmap and newgidmap are not installed (package uidmap)");
  return helpers;
}

Status writeIdMaps(pid_t pid, const IdMaps& maps) {
  std::string proc = fmt::format("/proc/{}", pid);
  if (mapWriterFor(maps, ::geteuid(), ::getegid()) == MapWriter::kDirect) {
    if (maps.denySetgroups)
      BERTH_TRY(writeProcFile(proc + "/setgroups", "deny"));
    BERTH_TRY(writeProcFile(proc + "/uid_map", idMapText(maps.uids)));
    BERTH_TRY(writeProcFile(proc + "/gid_map", idMapText(maps.gids)));
    return okStatus();
  }
  BERTH_ASSIGN(MapHelpers helpers, findMapHelpers());
  // newgidmap writes setgroups itself: allowed for subordinate ranges, as the kernel and
  // shadow agree.
  BERTH_TRY(runMapHelper(helpers.newuidmap, pid, maps.uids));
  BERTH_TRY(runMapHelper(helpers.newgidmap, pid, maps.gids));
  return okStatus();
}

}  // namespace berth::sys
