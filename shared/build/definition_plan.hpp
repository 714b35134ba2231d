// A definition file as the builder runs it: each stage becomes Dockerfile steps over the same
// pipeline (docker_builder.hpp), with Apptainer's meaning:
//
//   Bootstrap/From       FROM (docker: Registry/Namespace complete the name; oci: oci:DIR:TAG;
//                        scratch)
//   %files [from S]      COPY [--from=S]; host sources (relative to the definition file's
//                        directory, links followed as `cp -L` does) are copied into the build's
//                        generated context first, so the cache hashes exactly them
//   %post [-c SHELL]     RUN [SHELL, "-e", "-x", "-c", body] (default /bin/sh)
//   %labels              LABEL
//   %runscript, %help, %environment, %test, the file itself
//                        /.berth/runscript, help, environment, test, definition (metadata.hpp),
//                        one COPY layer of the last stage
//
// Not yet: %setup (it runs on the host against the image's root), Bootstrap agents other than
// docker, oci and scratch; both are one-line errors naming the line.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "shared/build/definition_file.hpp"
#include "shared/core/result.hpp"

namespace berth::build {

struct DefinitionPlan {
  std::string dockerfile;  // the generated Dockerfile (its context: `context`)
  std::string testScript;  // the last stage's %test ("" when none): run after the build
};

// Writes the generated context under `context` (an empty directory) and returns the plan.
// `definitionText` is the file as written (kept in /.berth/definition); `fileName` its name in
// messages; host sources of %files are relative to `definitionDir`.
[[nodiscard]] Result<DefinitionPlan> planDefinitionBuild(const DefinitionFile& file,
                                                         std::string_view definitionText,
                                                         std::string_view fileName,
                                                         const std::filesystem::path& definitionDir,
                                                         const std::filesystem::path& context);

}  // namespace berth::build
