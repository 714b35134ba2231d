#include "shared/container/sandbox.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "shared/core/unique_fd.hpp"

namespace berth::container {
namespace {

constexpr mode_t kOwnerAll = S_IRWXU;

// Walks the directory open as `dirFd` (on device `device`), fixing it and its subdirectories.
// Iterative over an explicit stack: a deep tree cannot exhaust the C++ stack.
Status fixTree(UniqueFd top, dev_t device, uid_t owner, RemovableFix& fix) {
  std::vector<UniqueFd> todo;
  todo.push_back(std::move(top));
  while (!todo.empty()) {
    UniqueFd dirFd = std::move(todo.back());
    todo.pop_back();
    // fdopendir takes the fd over: a dup keeps ours for openat.
    DIR* dir = ::fdopendir(::fcntl(dirFd.get(), F_DUPFD_CLOEXEC, 0));
    if (!dir)
      return errnoError("read sandbox directory");
    while (struct dirent* entry = ::readdir(dir)) {
      std::string_view name = entry->d_name;
      if (name == "." || name == ".." || (entry->d_type != DT_DIR && entry->d_type != DT_UNKNOWN))
        continue;
      struct stat st {};
      if (::fstatat(dirFd.get(), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          !S_ISDIR(st.st_mode) || st.st_dev != device || st.st_uid != owner)
        continue;
      if ((st.st_mode & kOwnerAll) != kOwnerAll) {
        if (::fchmodat(dirFd.get(), entry->d_name, (st.st_mode & 07777) | kOwnerAll, 0) != 0) {
          ::closedir(dir);
          return errnoError(fmt::format("chmod u+rwx `{}`", entry->d_name));
        }
        ++fix.directories;
      }
      int child =
          ::openat(dirFd.get(), entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child >= 0)
        todo.emplace_back(child);
    }
    ::closedir(dir);
  }
  return okStatus();
}

}  // namespace

Result<UsernsChoice> sandboxUsernsChoice(UsernsChoice choice, bool inPlace) {
  if (!inPlace)
    return choice;
  if (choice == UsernsChoice::kSubuid)
    return Error(
        "--userns=subuid: files of your subordinate ids in a sandbox could not be removed by you; "
        "a sandbox changed in place uses --userns=single");
  return UsernsChoice::kSingle;
}

Result<RemovableFix> makeSandboxRemovable(const std::filesystem::path& dir, uid_t owner) {
  UniqueFd top(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!top)
    return errnoError(fmt::format("open sandbox `{}`", dir.string()));
  struct stat st {};
  if (::fstat(top.get(), &st) != 0)
    return errnoError(fmt::format("stat sandbox `{}`", dir.string()));
  RemovableFix fix;
  if (st.st_uid == owner && (st.st_mode & kOwnerAll) != kOwnerAll) {
    if (::fchmod(top.get(), (st.st_mode & 07777) | kOwnerAll) != 0)
      return errnoError(fmt::format("chmod u+rwx `{}`", dir.string()));
    ++fix.directories;
  }
  BERTH_TRY(fixTree(std::move(top), st.st_dev, owner, fix)
                .withContext(fmt::format("sandbox `{}`", dir.string())));
  return fix;
}

}  // namespace berth::container
