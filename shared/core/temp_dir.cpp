#include "shared/core/temp_dir.hpp"

#include <cstdlib>
#include <system_error>

#include <fmt/format.h>

namespace berth {

Result<TempDir> TempDir::create(const std::filesystem::path& parent, std::string_view prefix) {
  std::string pattern = (parent / fmt::format("{}.XXXXXX", prefix)).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return errnoError(fmt::format("create temporary directory in `{}`", parent.string()));
  }
  return TempDir(std::filesystem::path(pattern));
}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    remove();
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

void TempDir::remove() noexcept {
  if (path_.empty())
    return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
  path_.clear();
}

}  // namespace berth
