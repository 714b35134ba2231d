#include "shared/sys/loop_device.hpp"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace berth::sys {

Result<LoopDevice> attachLoopDevice(int backingFd) {
  UniqueFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (!control)
    return errnoError("open /dev/loop-control");
  constexpr int kAttempts = 16;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    int number = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (number < 0)
      return errnoError("find a free loop device");
    std::string path = fmt::format("/dev/loop{}", number);
    UniqueFd device(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!device)
      return errnoError(fmt::format("open {}", path));
    loop_config config;
    std::memset(&config, 0, sizeof config);
    config.fd = static_cast<unsigned>(backingFd);
    config.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
    if (::ioctl(device.get(), LOOP_CONFIGURE, &config) == 0)
      return LoopDevice{std::move(device), std::move(path)};
    if (errno != EBUSY)
      return errnoError(fmt::format("configure {}", path));
    // Another process configured this device between GET_FREE and CONFIGURE: try the next.
  }
  return Error("no free loop device after several attempts");
}

}  // namespace berth::sys
