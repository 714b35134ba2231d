#include "spank_plugin/job_pins.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <limits>
#include <system_error>

#include <fmt/format.h>

#include "shared/core/read_file.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/sys/trusted_path.hpp"

namespace berth::spank {
namespace {

// A job names a few images; a file larger than this is refused (reading) or not appended to.
constexpr size_t kMaxPinFileBytes = 64 * 1024;
constexpr size_t kMaxImageLength = 1024;

bool validDigest(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (digest.size() != kPrefix.size() + 64 || digest.substr(0, kPrefix.size()) != kPrefix)
    return false;
  for (char c : digest.substr(kPrefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

// One word of printable characters: what a reference or cached name is.
bool validImage(std::string_view image) {
  if (image.empty() || image.size() > kMaxImageLength)
    return false;
  for (char c : image)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return false;
  return true;
}

std::string header(uid_t uid) {
  return fmt::format("uid {}\n", uid);
}

// The digest of `image` in a pin file's `content` made for `uid`.
std::optional<std::string> findPin(std::string_view content, uid_t uid, std::string_view image) {
  std::string first = header(uid);
  if (content.substr(0, first.size()) != first)
    return std::nullopt;
  content.remove_prefix(first.size());
  while (!content.empty()) {
    size_t end = content.find('\n');
    if (end == std::string_view::npos)
      break;  // a line being written: not yet
    std::string_view line = content.substr(0, end);
    content.remove_prefix(end + 1);
    size_t space = line.find(' ');
    if (space == std::string_view::npos)
      continue;
    if (line.substr(space + 1) == image && validDigest(line.substr(0, space)))
      return std::string(line.substr(0, space));
  }
  return std::nullopt;
}

// Makes `dir` (the pins directory) when missing, mode 0755; fails unless it is root's and no
// one else may write it.
Status ensurePinDirectory(const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir.parent_path(), error);
  if (error)
    return Error(fmt::format("create {}: {}", dir.parent_path().string(), error.message()));
  if (::mkdir(dir.c_str(), 0755) == 0) {
    if (::chmod(dir.c_str(), 0755) != 0)  // whatever the umask
      return errnoError(fmt::format("chmod {}", dir.string()));
  } else if (errno != EEXIST) {
    return errnoError(fmt::format("create {}", dir.string()));
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0)
    return errnoError(fmt::format("stat {}", dir.string()));
  if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0)
    return Error(fmt::format("{} is not a directory only root may change", dir.string()));
  return okStatus();
}

Result<std::string> readAll(int fd, const std::filesystem::path& path) {
  std::string content;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::pread(fd, buffer, sizeof buffer, static_cast<off_t>(content.size()));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errnoError(fmt::format("read {}", path.string()));
    if (n == 0)
      return content;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > kMaxPinFileBytes)
      return Error(fmt::format("{} is larger than {} bytes", path.string(), kMaxPinFileBytes));
  }
}

Status writeAll(int fd, std::string_view data, off_t offset, const std::filesystem::path& path) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errnoError(fmt::format("write {}", path.string()));
    data.remove_prefix(static_cast<size_t>(n));
    offset += n;
  }
  return okStatus();
}

}  // namespace

std::filesystem::path jobPinFile(const std::filesystem::path& stateDir, uint32_t jobId) {
  return stateDir / "pins" / fmt::format("job{}", jobId);
}

std::optional<uint32_t> parseJobId(const std::optional<std::string>& value) {
  if (!value || value->empty())
    return std::nullopt;
  uint32_t id = 0;
  const char* end = value->data() + value->size();
  auto [ptr, ec] = std::from_chars(value->data(), end, id);
  if (ec != std::errc() || ptr != end || id == 0)
    return std::nullopt;
  return id;
}

std::optional<std::string> readJobPin(const std::filesystem::path& stateDir, uint32_t jobId,
                                      uid_t uid, std::string_view image) {
  std::filesystem::path file = jobPinFile(stateDir, jobId);
  // Only root may have written it: the file and every directory above it.
  if (!sys::checkTrustedPath(file).ok())
    return std::nullopt;
  Result<std::string> content = readRegularFile(file, kMaxPinFileBytes);
  if (!content.ok())
    return std::nullopt;
  return findPin(*content, uid, image);
}

Status recordJobPin(const std::filesystem::path& stateDir, uint32_t jobId, uid_t uid,
                    std::string_view image, std::string_view digest) {
  if (!validDigest(digest) || !validImage(image))
    return Error(fmt::format("not a pin: `{}` for `{}`", digest, image));
  std::filesystem::path file = jobPinFile(stateDir, jobId);
  BERTH_TRY(ensurePinDirectory(file.parent_path()));
  UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644));
  if (!fd)
    return errnoError(fmt::format("open {}", file.string()));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return errnoError(fmt::format("stat {}", file.string()));
  if (!S_ISREG(st.st_mode) || st.st_uid != 0)
    return Error(fmt::format("{} is not a file of root's", file.string()));
  // The nodes of a step on one host, and steps started together, write it at once.
  while (::flock(fd.get(), LOCK_EX) != 0)
    if (errno != EINTR)
      return errnoError(fmt::format("lock {}", file.string()));
  BERTH_ASSIGN(std::string content, readAll(fd.get(), file));
  std::string first = header(uid);
  if (content.substr(0, first.size()) != first) {
    // New, or left by an earlier job of the same id (an epilog that did not run): restart.
    if (::ftruncate(fd.get(), 0) != 0)
      return errnoError(fmt::format("truncate {}", file.string()));
    content = first;
    BERTH_TRY(writeAll(fd.get(), content, 0, file));
  }
  if (::fchmod(fd.get(), 0644) != 0)
    return errnoError(fmt::format("chmod {}", file.string()));
  if (findPin(content, uid, image))
    return okStatus();  // the job's first digest for it stays
  std::string line = fmt::format("{} {}\n", digest, image);
  if (content.size() + line.size() > kMaxPinFileBytes)
    return okStatus();  // full: later steps pin again
  return writeAll(fd.get(), line, static_cast<off_t>(content.size()), file);
}

Status removeJobPins(const std::filesystem::path& stateDir, uint32_t jobId) {
  std::filesystem::path file = jobPinFile(stateDir, jobId);
  if (::unlink(file.c_str()) != 0 && errno != ENOENT)
    return errnoError(fmt::format("remove {}", file.string()));
  return okStatus();
}

}  // namespace berth::spank
