#include "shared/build/copy_into.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "shared/build/dockerignore.hpp"
#include "shared/build/step_container.hpp"
#include "shared/core/read_file.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/sys/resolve.hpp"

namespace berth::build {
namespace {

namespace fs = std::filesystem;

struct Copier {
  const CopySpec& spec;
  std::optional<ImageOwner> owner;  // --chown; else 0:0

  // Owner, mode and times of a copied entry (after its contents: a directory's mtime).
  Status finish(int fd, const std::string& dest, const struct stat& source, bool isLink) {
    uid_t uid = owner ? owner->uid : 0;
    gid_t gid = owner ? owner->gid : 0;
    struct timespec times[2] = {source.st_atim, source.st_mtim};
    if (isLink) {
      if (::lchown(dest.c_str(), uid, gid) != 0)
        return errnoError(fmt::format("chown `{}`", dest));
      if (::utimensat(AT_FDCWD, dest.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        return errnoError(fmt::format("set times of `{}`", dest));
      return okStatus();
    }
    if (::fchown(fd, uid, gid) != 0)
      return errnoError(fmt::format("chown `{}`", dest));
    mode_t mode = spec.chmod ? *spec.chmod : (source.st_mode & 07777);
    if (::fchmod(fd, mode) != 0)
      return errnoError(fmt::format("chmod `{}`", dest));
    if (::futimens(fd, times) != 0)
      return errnoError(fmt::format("set times of `{}`", dest));
    return okStatus();
  }

  // Makes the missing directories of `dir` (root-owned, 0755: as Docker does).
  static Status makeParents(const fs::path& dir) {
    fs::path path = "/";
    for (const auto& part : dir.relative_path()) {
      path /= part;
      if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
        return errnoError(fmt::format("create `{}`", path.string()));
    }
    return okStatus();
  }

  static Status clearTarget(const std::string& dest, bool keepDirectory) {
    struct stat st {};
    if (::lstat(dest.c_str(), &st) != 0)
      return okStatus();
    if (keepDirectory && S_ISDIR(st.st_mode))
      return okStatus();
    std::error_code ec;
    fs::remove_all(dest, ec);
    if (ec)
      return Error(fmt::format("replace `{}`: {}", dest, ec.message()));
    return okStatus();
  }

  Status copyFile(int source, const struct stat& st, const std::string& dest) {
    BERTH_TRY(clearTarget(dest, false));
    UniqueFd out(::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out)
      return errnoError(fmt::format("create `{}`", dest));
    char buffer[1 << 16];
    while (true) {
      ssize_t n = ::read(source, buffer, sizeof buffer);
      if (n < 0)
        return errnoError(fmt::format("read the source of `{}`", dest));
      if (n == 0)
        break;
      for (ssize_t done = 0; done < n;) {
        ssize_t w = ::write(out.get(), buffer + done, static_cast<size_t>(n - done));
        if (w < 0)
          return errnoError(fmt::format("write `{}`", dest));
        done += w;
      }
    }
    return finish(out.get(), dest, st, false);
  }

  Status copyDirectoryContents(int dir, const std::string& display, const std::string& dest) {
    UniqueFd listFd(::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!listFd)
      return errnoError(fmt::format("open `{}`", display));
    DIR* handle = ::fdopendir(listFd.release());
    if (handle == nullptr)
      return errnoError(fmt::format("open `{}`", display));
    std::vector<std::string> names;
    while (struct dirent* entry = ::readdir(handle)) {
      std::string_view name = entry->d_name;
      if (name != "." && name != "..")
        names.emplace_back(name);
    }
    ::closedir(handle);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names)
      BERTH_TRY(copyEntry(dir, name, display == "." ? name : display + "/" + name,
                          dest == "/" ? "/" + name : dest + "/" + name));
    return okStatus();
  }

  Status copyEntry(int parent, const std::string& name, const std::string& display,
                   const std::string& dest) {
    int follow = spec.followLinks ? 0 : AT_SYMLINK_NOFOLLOW;
    struct stat st {};
    if (::fstatat(parent, name.c_str(), &st, follow) != 0)
      return errnoError(fmt::format("stat `{}`", display));
    bool ignored = spec.ignore != nullptr && spec.ignore->excluded(display);
    if (ignored && !(S_ISDIR(st.st_mode) && spec.ignore->hasExceptions()))
      return okStatus();
    int noFollow = spec.followLinks ? 0 : O_NOFOLLOW;
    if (S_ISDIR(st.st_mode)) {
      UniqueFd dir(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | noFollow | O_CLOEXEC));
      if (!dir)
        return errnoError(fmt::format("open `{}`", display));
      return copyDirectory(dir.get(), st, display, dest, ignored);
    }
    if (ignored)
      return okStatus();
    if (S_ISREG(st.st_mode)) {
      UniqueFd file(::openat(parent, name.c_str(), O_RDONLY | noFollow | O_CLOEXEC));
      if (!file)
        return errnoError(fmt::format("open `{}`", display));
      return copyFile(file.get(), st, dest);
    }
    if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(parent, name.c_str(), target.data(), target.size());
      if (n < 0)
        return errnoError(fmt::format("readlink `{}`", display));
      target.resize(static_cast<size_t>(n));
      BERTH_TRY(clearTarget(dest, false));
      if (::symlink(target.c_str(), dest.c_str()) != 0)
        return errnoError(fmt::format("create symlink `{}`", dest));
      return finish(-1, dest, st, true);
    }
    return okStatus();  // sockets, fifos, devices: not copied (as Docker's COPY)
  }

  // A directory: made (or kept) at `dest`, its contents copied, then its attributes. An
  // ignored directory is only walked (an exception below it may re-include something).
  Status copyDirectory(int dir, const struct stat& st, const std::string& display,
                       const std::string& dest, bool ignored = false) {
    if (!ignored) {
      BERTH_TRY(clearTarget(dest, true));
      if (::mkdir(dest.c_str(), 0700) != 0 && errno != EEXIST)
        return errnoError(fmt::format("create `{}`", dest));
    }
    BERTH_TRY(copyDirectoryContents(dir, display, dest));
    if (ignored)
      return okStatus();
    UniqueFd made(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!made)
      return errnoError(fmt::format("open `{}`", dest));
    return finish(made.get(), dest, st, false);
  }
};

bool isDirectory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

Status copyInto(const CopySpec& spec) {
  Copier copier{spec, std::nullopt};
  if (spec.chown) {
    auto passwd = readRegularFile("/etc/passwd", 1 << 22);
    auto group = readRegularFile("/etc/group", 1 << 22);
    BERTH_ASSIGN(copier.owner, resolveImageOwner(*spec.chown, passwd.ok() ? *passwd : "",
                                                 group.ok() ? *group : "")
                                   .withContext("--chown"));
    // Docker: a user without a group gets the group of the same number.
    if (spec.chown->find(':') == std::string::npos)
      copier.owner->gid = copier.owner->uid;
  }
  std::string destination = spec.destination;
  while (destination.size() > 1 && destination.back() == '/')
    destination.pop_back();
  bool intoDirectory = spec.destinationIsDirectory || isDirectory(destination);
  BERTH_TRY(Copier::makeParents(intoDirectory ? fs::path(destination)
                                              : fs::path(destination).parent_path()));
  for (const std::string& source : spec.sources) {
    BERTH_ASSIGN(UniqueFd opened, sys::openInRoot(spec.sourceRoot, source, O_PATH));
    struct stat st {};
    if (::fstat(opened.get(), &st) != 0)
      return errnoError(fmt::format("stat `{}`", source));
    if (S_ISDIR(st.st_mode)) {
      BERTH_ASSIGN(UniqueFd dir, sys::openInRoot(spec.sourceRoot, source, O_RDONLY | O_DIRECTORY));
      bool made = !isDirectory(destination);
      if (made) {
        BERTH_TRY(Copier::clearTarget(destination, true));
        BERTH_TRY(Copier::makeParents(destination));
      }
      BERTH_TRY(copier.copyDirectoryContents(dir.get(), source, destination));
      if (made) {
        // A directory COPY made gets the source's mode and the --chown owner, as in Docker.
        UniqueFd out(::open(destination.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!out)
          return errnoError(fmt::format("open `{}`", destination));
        BERTH_TRY(copier.finish(out.get(), destination, st, false));
      }
      continue;
    }
    if (spec.ignore != nullptr && spec.ignore->excluded(source))
      continue;
    std::string name = fs::path(source).filename().string();
    std::string dest =
        intoDirectory ? (destination == "/" ? "" : destination) + "/" + name : destination;
    BERTH_ASSIGN(UniqueFd file, sys::openInRoot(spec.sourceRoot, source, O_RDONLY));
    if (S_ISREG(st.st_mode)) {
      BERTH_TRY(copier.copyFile(file.get(), st, dest));
    }
  }
  return okStatus();
}

}  // namespace berth::build
