// Fuzz target: Dockerfile parsing and expansion (directives, continuations, substitution,
// stage scoping, ONBUILD triggers of a base), and the same text as a .dockerignore. Any input
// must give a model or a one-line "Dockerfile..." error, never a crash, hang or sanitizer
// report; every step of a model has a canonical text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "shared/build/cache_key.hpp"
#include "shared/build/dockerfile.hpp"
#include "shared/build/dockerignore.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024)
    return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  berth::build::DockerfileOptions options;
  options.buildArgs = {{"VERSION", "12"}, {"TARGETARCH", "arm64"}};
  // A base whose ONBUILD triggers are the input's first line: triggers get fuzzed too.
  std::string firstLine(text.substr(0, text.find('\n')));
  options.baseImage = [&](const std::string&,
                          const std::string&) -> berth::Result<berth::build::BaseImageConfig> {
    berth::build::BaseImageConfig base;
    base.config.env = {{"PATH", "/usr/bin"}};
    base.config.onBuild = {firstLine};
    return base;
  };
  auto file = berth::build::parseDockerfile(text, options);
  if (file.ok()) {
    for (const auto& stage : file->stages)
      for (const auto& step : stage.steps)
        (void)berth::build::canonicalInstruction(step);
  } else if (!file.error().message().starts_with("Dockerfile")) {
    std::abort();
  }

  auto ignore = berth::build::DockerIgnore::parse(text);
  if (ignore.ok()) {
    for (std::string_view path : {"a", "src/main.c", "a/b/c/d.txt", ".git/config"})
      (void)ignore->excluded(path);
  }
  return 0;
}
