#include "shared/core/read_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>

#include <fmt/format.h>

#include "shared/core/unique_fd.hpp"

namespace berth {

Result<std::string> readRegularFile(const std::filesystem::path& path, size_t limit) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd)
    return errnoError(fmt::format("open `{}`", path.string()));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return errnoError(fmt::format("stat `{}`", path.string()));
  if (S_ISDIR(st.st_mode))
    return Error(fmt::format("`{}` is a directory, not a file", path.string()), EISDIR);
  if (!S_ISREG(st.st_mode))
    return Error(fmt::format("`{}` is not a regular file", path.string()), EINVAL);
  if (static_cast<size_t>(st.st_size) > limit)
    return Error(fmt::format("`{}` is larger than {} bytes", path.string(), limit), EFBIG);
  std::string data;
  data.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  // The size may change while reading: read until EOF, within the limit.
  for (;;) {
    if (done == data.size()) {
      if (data.size() >= limit + 1)
        return Error(fmt::format("`{}` is larger than {} bytes", path.string(), limit), EFBIG);
      data.resize(std::min(limit + 1, std::max<size_t>(4096, data.size() * 2)));
    }
    ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errnoError(fmt::format("read `{}`", path.string()));
    if (n == 0)
      break;
    done += static_cast<size_t>(n);
  }
  if (done > limit)
    return Error(fmt::format("`{}` is larger than {} bytes", path.string(), limit), EFBIG);
  data.resize(done);
  return data;
}

Result<std::string> readWholeFile(const std::filesystem::path& path) {
  // Half the address space: the limit never overflows, and no file berth reads comes close.
  return readRegularFile(path, std::numeric_limits<size_t>::max() / 2);
}

}  // namespace berth
