#include "shared/core/error.hpp"

#include <cstring>

#include <fmt/format.h>

namespace berth {

Error Error::fromErrno(int errnum, std::string_view what) {
  return Error(fmt::format("{}: {}", what, std::strerror(errnum)), errnum);
}

Error Error::withContext(std::string_view context) const& {
  return Error(*this).withContext(context);
}

Error Error::withContext(std::string_view context) && {
  message_.insert(0, fmt::format("{}: ", context));
  return std::move(*this);
}

}  // namespace berth
