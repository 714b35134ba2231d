// `berth build IMG.sqsh DIR` and `berth build -t REF DIR`: a directory tree (a sandbox) into
// an image, the way `berth pull DIR` converts one (convert::convertDirectory as the only
// layer; its /.berth/ config, runscript, help and the like kept), into a file or into the image
// cache under a name. image_tool/build.cpp hands a directory source here.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "image_tool/command.hpp"

namespace berth::cli {

struct DirectoryBuild {
  std::filesystem::path directory;
  std::optional<std::filesystem::path> output;  // IMG.sqsh
  std::string tag;                              // -t REF: into the image cache under REF
  std::string cacheDir;                         // --cache; empty: the usual one (site.hpp)
};

// Whether `source` names a sandbox (a directory that is no Dockerfile build context: it holds
// no Dockerfile or Containerfile at its top).
bool isSandboxSource(const std::filesystem::path& source);

// Prints the image's digest and path on stdout, as `berth pull` does.
[[nodiscard]] Result<int> buildFromDirectory(const DirectoryBuild& build, const Logger& log);

}  // namespace berth::cli
