// COPY, ADD and %files into a step's container: run by a child that is root inside it
// (StepContainer::runAsRoot), so destination paths resolve as the container sees them (the
// image's symlinks followed inside) and new files get the container's ids.
//
// Docker's rules: a source directory's contents (not the directory) go into the destination; a
// destination ending in `/`, or several sources, is a directory; missing parents are made; modes
// and modification times are the source's (--chmod replaces the mode), owners are 0:0 unless
// --chown says otherwise. Sources are read through `sourceRoot` and never leave it.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::build {

class DockerIgnore;

struct CopySpec {
  int sourceRoot = -1;                  // the build context, or another stage's root (O_PATH)
  std::vector<std::string> sources;     // matched paths relative to sourceRoot ("." for all)
  std::string destination;              // absolute in the container, as written (trailing `/` kept)
  bool destinationIsDirectory = false;  // several sources or a trailing `/`
  std::optional<std::string> chown;     // "user[:group]" as the image's files name them
  std::optional<mode_t> chmod;
  const DockerIgnore* ignore = nullptr;  // paths relative to sourceRoot left out
  bool followLinks = false;              // %files: cp -L
};

// Does the copy. Call in a child that is root inside the container, at its root.
[[nodiscard]] Status copyInto(const CopySpec& spec);

}  // namespace berth::build
