// The real Backend over libberth. Pieces that other parts of berth provide are wired here as
// they land: the registry client (pinDigest), the image cache (ensureImage, isCached), the
// container runtime (buildContainer) and the squashfs writer (saveContainer).
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "spank_plugin/container_backend.hpp"
#include "spank_plugin/option_checks.hpp"

namespace berth::spank {
namespace {

// Whether `user` (with all their groups) may read `path`: checked in a child process that
// takes the user's identity, so root's rights never leak to the user (slurmstepd is root).
Status checkReadableAsUser(const std::filesystem::path& path, const UserIdentity& user) {
  std::vector<gid_t> groups(64);
  if (struct passwd* pw = ::getpwuid(user.uid); pw != nullptr) {
    int count = static_cast<int>(groups.size());
    if (::getgrouplist(pw->pw_name, user.gid, groups.data(), &count) < 0) {
      groups.resize(count);
      ::getgrouplist(pw->pw_name, user.gid, groups.data(), &count);
    }
    groups.resize(count);
  } else {
    groups.assign(1, user.gid);
  }
  pid_t child = ::fork();
  if (child < 0)
    return errnoError("fork");
  if (child == 0) {
    if (::setgroups(groups.size(), groups.data()) != 0 ||
        ::setresgid(user.gid, user.gid, user.gid) != 0 ||
        ::setresuid(user.uid, user.uid, user.uid) != 0)
      ::_exit(125);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ::_exit(fd >= 0 ? 0 : (errno & 0x7f));
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR)
      return errnoError("waitpid");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 125)
    return Error(fmt::format("check {} as uid {}: the check failed", path.string(), user.uid));
  if (WEXITSTATUS(status) != 0)
    return Error::fromErrno(WEXITSTATUS(status), path.string());
  return okStatus();
}

}  // namespace

Backend makeBackend(const config::SiteConfig& site, const Logger& log) {
  (void)log;
  Backend backend;
  backend.ensureImage = [site](const ImageRequest& request) -> Result<std::filesystem::path> {
    if (isImagePath(request.image)) {
      if (!site.allowUserImages)
        return Error("squashfs files named by path are not allowed on this site");
      BERTH_TRY(checkReadableAsUser(request.image, request.user));
      return std::filesystem::path(request.image);
    }
    return Error("registry and cached images need the image cache, not in this build yet");
  };
  return backend;
}

}  // namespace berth::spank
