#include "shared/container/image_source.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "shared/convert/image_files.hpp"
#include "shared/core/unique_fd.hpp"

namespace berth::container {
namespace {

// A name that can only be a file path (not an image reference).
bool looksLikePath(std::string_view argument) {
  return argument.starts_with('/') || argument.starts_with("./") || argument.starts_with("../") ||
         argument.ends_with(".sqsh") || argument.ends_with(".squashfs") ||
         argument.ends_with(".sqfs") || argument.ends_with(".img");
}

}  // namespace

Status checkSquashfsFile(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd)
    return errnoError(fmt::format("open image `{}`", path.string()));
  char magic[4] = {};
  if (::pread(fd.get(), magic, sizeof magic, 0) != sizeof magic ||
      std::memcmp(magic, "hsqs", 4) != 0)
    return Error(fmt::format("`{}` is {}", path.string(), convert::kNotSquashfsImage));
  return okStatus();
}

Result<ImageLocation> locateImage(std::string_view argument, bool sandbox,
                                  const ImageResolver& resolver) {
  if (argument.empty())
    return Error("empty image name");
  bool isReference = argument.find("://") != std::string_view::npos;
  std::error_code ec;
  std::filesystem::path path(argument);
  if (!isReference && std::filesystem::exists(path, ec)) {
    auto absolute = std::filesystem::absolute(path, ec);
    if (std::filesystem::is_directory(path, ec))
      return ImageLocation{ImageKind::kDirectory, absolute.lexically_normal(), false};
    if (sandbox)
      return Error(fmt::format("--sandbox: `{}` is not a directory", argument));
    BERTH_TRY(checkSquashfsFile(path));
    return ImageLocation{ImageKind::kSquashfs, absolute.lexically_normal(), false};
  }
  if (sandbox || looksLikePath(argument))
    return Error(fmt::format("image `{}`: no such file or directory", argument));
  if (!resolver)
    return Error(
        fmt::format("image `{}`: image cache not available (give a squashfs file or "
                    "a sandbox directory)",
                    argument));
  BERTH_ASSIGN(auto cached, resolver(argument));
  BERTH_TRY(checkSquashfsFile(cached));
  return ImageLocation{ImageKind::kSquashfs, cached, false};
}

}  // namespace berth::container
