// Apptainer/Singularity definition files, parsed into a plain model the builder walks.
//
// The rules are Apptainer's (its parser: apptainer/apptainer, pkg/build/types/parser/deffile.go):
//  - a line starting with `Bootstrap:` (any case, column 0) starts a new stage;
//  - before a stage's first section come its header lines, `Key: value` (keys any case, `#`
//    comments, a trailing `\` continues the value on the next line);
//  - a section starts at a line whose first word begins with `%`; the rest of that line are the
//    section's arguments (`%post -c /bin/bash`, `%files from build`);
//  - same-named sections of one stage are appended, in file order; `%files` sections are merged
//    only when their arguments are equal;
//  - `%arguments` holds `NAME=VALUE` defaults for `{{ NAME }}` anywhere else in the file, and
//    `--build-arg NAME=VALUE` overrides them; an undefined name is an error.
// What berth does not support (other bootstrap agents, `%pre`, `%startscript`, SCIF `%app*`) and
// anything unknown is refused with one line: "FILE:LINE: what; hint".
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::build {

// The bootstrap agents berth builds from (`Bootstrap:` values); keep in sync with docs/build.md.
enum class BootstrapAgent {
  kDocker,         // From: a registry reference (Registry:, Namespace: complete a short one)
  kLocalImage,     // From: a local image file (squashfs, or a sandbox directory)
  kOras,           // From: an OCI registry reference
  kScratch,        // no base: an empty root
  kDockerArchive,  // From: a `docker save` tar file
  kOci,            // From: an OCI image layout directory (DIR or DIR:TAG)
  kOciArchive,     // From: a tar of an OCI image layout
};

std::string_view bootstrapAgentName(BootstrapAgent agent);

// One `%name` section: its text, with every same-named section of the stage appended.
struct DefinitionSection {
  std::string name;        // lower case, without `%`: "post", "runscript", ...
  std::string shell;       // `-c SHELL` of %setup/%post/%test/%runscript; empty = /bin/sh
  std::string body;        // the lines after the section line, `{{ }}` substituted, '\n' each
  std::vector<int> lines;  // line of each `%name` line that contributed, in order
};

// One `SOURCE [DESTINATION]` line of a %files section.
struct FileCopy {
  std::string source;       // host path (or a path in `fromStage`)
  std::string destination;  // path in the image; equal to source when the line names one path
  int line = 0;
};

// A %files section: its copies, taken from the host or from an earlier stage.
struct FilesSection {
  std::string fromStage;  // `%files from NAME`; empty = the host (the build context)
  std::vector<FileCopy> copies;
  int line = 0;  // line of the first `%files` line with these arguments
};

struct DefinitionStage {
  BootstrapAgent agent = BootstrapAgent::kScratch;
  std::string from;                           // the From: header (empty for scratch)
  std::string registry;                       // Registry: (docker only)
  std::string nameSpace;                      // Namespace: (docker only)
  std::string name;                           // Stage: ; empty for an unnamed stage
  int line = 0;                               // line of the Bootstrap: header
  std::map<std::string, std::string> header;  // every header, keys in lower case
  std::vector<DefinitionSection> sections;    // by first appearance; no %files here
  std::vector<FilesSection> files;            // by first appearance
  std::map<std::string, std::string> labels;  // %labels: first word -> rest of the line

  // The section named `name` (lower case), or nullptr.
  const DefinitionSection* section(std::string_view name) const;
};

struct DefinitionFile {
  std::vector<DefinitionStage> stages;           // in file order; the last one is the image
  std::map<std::string, std::string> arguments;  // every `{{ }}` value in effect
  std::vector<std::string> unusedBuildArgs;      // --build-arg names the file never uses
};

struct DefinitionParseOptions {
  std::string fileName = "definition file";      // used in "FILE:LINE:" error prefixes
  std::map<std::string, std::string> buildArgs;  // --build-arg NAME=VALUE
};

// Parses a whole definition file; the first problem found is the error ("FILE:LINE: ...").
[[nodiscard]] Result<DefinitionFile> parseDefinitionFile(std::string_view text,
                                                         const DefinitionParseOptions& options);

}  // namespace berth::build
