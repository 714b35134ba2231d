// Build-cache keys: what decides that a step's layer can be reused (docs/build.md, "The build
// cache").
//
//   key(step i) = sha256(key(step i-1), identity mode, canonical instruction, tree hash)
//
// The chain starts at the base image's manifest digest (or "scratch"). The canonical
// instruction is the step after substitution, with the state it runs in (environment, SHELL,
// WORKDIR, USER): two steps that would run the same command the same way have the same text.
// The tree hash covers what COPY/ADD/%files read from the host: for every source entry its
// path, type, mode, size, content digest and link target, sorted, .dockerignore applied; owners
// and mtimes are left out (COPY sets both), so a fresh checkout hits the cache.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "shared/build/definition_file.hpp"
#include "shared/build/dockerfile.hpp"
#include "shared/core/result.hpp"

namespace berth::build {

class DockerIgnore;

// The canonical text of a Dockerfile step (a JSON object with sorted keys).
std::string canonicalInstruction(const DockerStep& step);

// The canonical text of a definition-file step: a script section (%setup, %post, %test, with
// its shell) run in `environment` ("NAME=value" as the builder sets it), or a %files section.
std::string canonicalSection(const DefinitionSection& section,
                             const std::vector<std::string>& environment = {});
std::string canonicalFiles(const FilesSection& files);

struct TreeHashOptions {
  const DockerIgnore* ignore = nullptr;  // context-relative paths it excludes are left out
  bool followSymlinks = false;           // %files copies with links followed (cp -L)
  bool allowAbsolute = false;            // %files sources may be absolute host paths
};

// The tree hash of `sources` (paths relative to `root`; `*`, `?` and `[..]` in a component
// match as in COPY), "sha256:<hex>". A source that matches nothing, or one that leaves `root`
// through `..`, is an error.
[[nodiscard]] Result<std::string> treeHash(const std::filesystem::path& root,
                                           const std::vector<std::string>& sources,
                                           const TreeHashOptions& options = {});

// What one COPY source names under `root`: "." or relative paths ("src/a.c"), its `*`, `?` and
// `[..]` components matched; absolute host paths when `allowAbsolute` (%files), else a leading
// `/` is the root. Nothing matched, or `..` out of the root, is an error.
[[nodiscard]] Result<std::vector<std::string>> matchSource(const std::filesystem::path& root,
                                                           const std::string& source,
                                                           bool allowAbsolute = false);

// sha256 over the four fields, each length-prefixed (no field can run into the next).
[[nodiscard]] Result<std::string> chainKey(std::string_view previousKey,
                                           std::string_view identityMode,
                                           std::string_view canonical, std::string_view treeHash);

}  // namespace berth::build
