// What `berth inspect` shows: an image's metadata from /.berth/ (config, source, and for built
// images runscript, help, test, definition, %environment), read without mounting
// (image_files.hpp); and `berth run-help`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
  std::optional<std::string> test;
  std::optional<std::string> environment;  // the %environment text
};

[[nodiscard]] Result<InspectReport> inspectImage(const ImageLocation& image);

std::string inspectText(const InspectReport& report);
std::string inspectJson(const InspectReport& report);

// One part of the report alone (Apptainer's `inspect --runscript` and friends).
enum class InspectItem {
  kRunscript,    // --runscript: /.berth/runscript
  kHelp,         // --helpfile: /.berth/help
  kDefinition,   // --deffile: /.berth/definition
  kLabels,       // --labels: the config's Labels, KEY=VALUE lines
  kEnvironment,  // --environment: /.berth/environment, else the image's Env as export lines
};

struct InspectPart {
  std::optional<std::string> text;  // empty: the image has none
  std::string missing;              // then: what it lacks ("no runscript (/.berth/runscript)")
};

InspectPart inspectPart(const InspectReport& report, InspectItem item);

// `berth run-help`: the image's help text, else one line saying it has none.
std::string runHelpText(const InspectReport& report);

}  // namespace berth::container
