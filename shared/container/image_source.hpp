// What the IMAGE argument names: a squashfs file, a sandbox directory, or a reference that the
// image cache resolves (a cached name, or docker://... which the cache pulls first).
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

#include "shared/core/result.hpp"

namespace berth::container {

enum class ImageKind { kSquashfs, kDirectory };

struct ImageLocation {
  ImageKind kind = ImageKind::kSquashfs;
  std::filesystem::path path;  // absolute
  // A sandbox directory changed in place (--writable): it is the container's root itself, no
  // overlay; mount points it lacks are not made in it (sandbox.hpp).
  bool inPlace = false;
};

// Turns a reference into a squashfs file in the cache (pulling it when needed).
using ImageResolver = std::function<Result<std::filesystem::path>(std::string_view reference)>;

// `sandbox`: the argument must be a directory (--sandbox). `resolver` may be empty: references
// then fail with "image cache not available".
[[nodiscard]] Result<ImageLocation> locateImage(std::string_view argument, bool sandbox,
                                                const ImageResolver& resolver);

// Checks the squashfs magic at the start of `path`: a quick look while locating the image (the
// whole check, with the same message, comes before mounting: image_files.hpp).
[[nodiscard]] Status checkSquashfsFile(const std::filesystem::path& path);

}  // namespace berth::container
