// --container-save: the image with a container's changes applied, as one squashfs file that
// belongs to the user. Runs in slurmstepd (root) at step end, on the step's first node.
//
//   1. a child in a private mount namespace mounts the image with the container's layer over
//      it, read-only (container::mountSavedView, the executor's mounts), and converts that tree
//      with the converter;
//   2. a second child, with the user's identity for good, copies the result to the user's path
//      (created by the user: root never writes where the user points).
#include <fcntl.h>
#include <sched.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "spank_plugin/image_provider.hpp"

#include "shared/config/site_mapping.hpp"
#include "shared/container/executor.hpp"
#include "shared/convert/converter.hpp"
#include "shared/core/atomic_file.hpp"
#include "shared/core/read_file.hpp"
#include "shared/core/temp_dir.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/image/metadata.hpp"
#include "shared/sys/identity.hpp"
#include "shared/sys/mount.hpp"
#include "shared/sys/process.hpp"

namespace berth::spank {
namespace {

// A /.berth metadata file of the saved tree; "" when the image has none.
std::string readMetadataFile(const std::filesystem::path& path) {
  Result<std::string> text = readWholeFile(path);
  return text.ok() ? std::move(text).value() : std::string();
}

// Runs `body` in a forked child; its error message comes back through a pipe.
template <typename Body>
Status runInChild(std::string_view what, Body&& body) {
  BERTH_ASSIGN(auto pipe, sys::makePipe());
  auto [readEnd, writeEnd] = std::move(pipe);
  pid_t pid = ::fork();
  if (pid < 0)
    return errnoError(fmt::format("{}: fork", what));
  if (pid == 0) {
    readEnd.reset();
    Status status = body();
    if (status.ok())
      ::_exit(0);
    (void)sys::writeAll(writeEnd.get(), status.error().message());
    ::_exit(1);
  }
  writeEnd.reset();
  Result<std::string> message = sys::readAll(readEnd.get());  // reap the child even if this fails
  BERTH_ASSIGN(int status, sys::waitForProcess(pid).withContext(what));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return okStatus();
  if (!message.ok() || message->empty())
    return Error(fmt::format("{}: the helper failed", what));
  return Error(*message);
}

Status convertMerged(const config::SiteConfig& site, const std::filesystem::path& image,
                     const std::filesystem::path& layer, const std::filesystem::path& work,
                     const std::filesystem::path& result, const Logger& log) {
  if (::unshare(CLONE_NEWNS) != 0)
    return errnoError("unshare the mount namespace");
  BERTH_TRY(sys::makeMountsPrivate());
  UniqueFd imageFd(::open(image.c_str(), O_RDONLY | O_CLOEXEC));
  if (!imageFd)
    return errnoError(fmt::format("open {}", image.string()));
  BERTH_TRY(container::mountSavedView(imageFd.get(), layer, work / "lower", work / "merged"));
  convert::ImageMetadataFiles metadata{
      .configJson = readMetadataFile(work / "merged" / image::kConfigFile),
      .sourceJson = readMetadataFile(work / "merged" / image::kSourceFile)};
  BERTH_TRY(convert::convertDirectory(work / "merged", metadata, result,
                                      config::convertOptionsFor(site), log));
  return okStatus();  // the namespace, its mounts and the loop device go with this process
}

Status copyAsUser(int sourceFd, const std::filesystem::path& output, const sys::Identity& user) {
  BERTH_TRY(sys::dropPrivileges(user));
  BERTH_ASSIGN(AtomicFile file, AtomicFile::create(output));
  UniqueFd target(::open(file.tempPath().c_str(), O_WRONLY | O_CLOEXEC));
  if (!target)
    return errnoError(fmt::format("open {}", file.tempPath().string()));
  struct stat st {};
  if (::fstat(sourceFd, &st) != 0)
    return errnoError("stat the saved image");
  off_t offset = 0;
  while (offset < st.st_size) {
    ssize_t sent =
        ::sendfile(target.get(), sourceFd, &offset, static_cast<size_t>(st.st_size - offset));
    if (sent <= 0)
      return errnoError(fmt::format("write {}", output.string()));
  }
  target.reset();
  return file.commit();
}

// The user's identity for good (supplementary groups included): what the save runs as.
Result<sys::Identity> saveIdentity(const UserIdentity& ids) {
  BERTH_ASSIGN(sys::Identity user, sys::lookupIdentity(static_cast<uid_t>(ids.uid)));
  user.gid = static_cast<gid_t>(ids.gid);
  return user;
}

// Run as the user: copyAsUser() will create a temp file next to `output` and rename it over.
Status checkWritable(const std::filesystem::path& output) {
  std::filesystem::path dir = output.parent_path();
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return errnoError(fmt::format("directory {}", dir.string()));
  if (!S_ISDIR(st.st_mode))
    return Error(fmt::format("{} is not a directory", dir.string()));
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return errnoError(fmt::format("cannot create files in {}", dir.string()));
  if (::stat(output.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return Error(fmt::format("{} is a directory", output.string()));
  return okStatus();
}

}  // namespace

Status checkSaveTarget(const std::filesystem::path& output, const UserIdentity& userIds) {
  BERTH_ASSIGN(sys::Identity user, saveIdentity(userIds));
  return runInChild("check the save path", [&]() -> Status {
    BERTH_TRY(sys::dropPrivileges(user));
    return checkWritable(output);
  });
}

Status saveContainer(const config::SiteConfig& site, const std::filesystem::path& image,
                     const std::filesystem::path& layer, const std::filesystem::path& output,
                     const UserIdentity& userIds, const Logger& log) {
  BERTH_ASSIGN(sys::Identity user, saveIdentity(userIds));
  // Next to the layer: node-local, root-only.
  BERTH_ASSIGN(TempDir work, TempDir::create(layer.parent_path(), ".save"));
  for (const char* dir : {"lower", "merged"}) {
    if (::mkdir((work.path() / dir).c_str(), 0700) != 0)
      return errnoError(fmt::format("create {}", (work.path() / dir).string()));
  }
  std::filesystem::path result = work.path() / "image.sqsh";
  BERTH_TRY(runInChild("save the container", [&] {
    return convertMerged(site, image, layer, work.path(), result, log);
  }));
  UniqueFd resultFd(::open(result.c_str(), O_RDONLY | O_CLOEXEC));
  if (!resultFd)
    return errnoError(fmt::format("open {}", result.string()));
  return runInChild("write the saved image",
                    [&] { return copyAsUser(resultFd.get(), output, user); });
}

}  // namespace berth::spank
