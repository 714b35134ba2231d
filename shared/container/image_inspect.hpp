// What `berth inspect` shows: an image's metadata from /.berth/ (config, source, and for built
// images runscript, help, definition), read without mounting (image_files.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "shared/container/image_source.hpp"
#include "shared/image/metadata.hpp"

namespace berth::container {

struct InspectReport {
  ImageLocation image;
  uint64_t sizeBytes = 0;  // the squashfs file's size (0 for a sandbox directory)
  std::optional<image::ImageSource> source;
  image::ImageConfig config;
  bool hasConfig = false;
  std::optional<std::string> runscript;
  std::optional<std::string> help;
  std::optional<std::string> definition;
};

[[nodiscard]] Result<InspectReport> inspectImage(const ImageLocation& image);

std::string inspectText(const InspectReport& report);
std::string inspectJson(const InspectReport& report);

}  // namespace berth::container
