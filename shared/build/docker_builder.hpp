// A Dockerfile build (docs/build.md): each stage's steps run in order; RUN in a step container
// (step_container.hpp), COPY/ADD copied into one, metadata steps only change the config. Each
// step that changes files gives one layer, keyed in the build cache (build_cache.hpp); a hit
// is reused without running the step. The result is the target stage as an OCI config,
// manifest and layer list, ready for the converter.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/build/base_image.hpp"
#include "shared/build/step_container.hpp"
#include "shared/config/site_config.hpp"
#include "shared/convert/converter.hpp"
#include "shared/core/log.hpp"
#include "shared/core/result.hpp"

namespace berth::build {

struct DockerBuildRequest {
  std::filesystem::path context;  // the build context directory
  std::string dockerfileText;
  std::string dockerfileName = "Dockerfile";  // for messages
  std::map<std::string, std::string> buildArgs;
  std::string target;  // --target: a stage name; empty: the last stage
  std::optional<int64_t> sourceDateEpoch;
  bool noCache = false;
  StepIdentity identity;
  std::filesystem::path cacheRoot;  // the image cache: blobs/ and build/
  std::filesystem::path scratch;    // this build's scratch directory
  // The squashfs of an image FROM names (pulled into the cache when missing).
  std::function<Result<std::filesystem::path>(std::string_view image)> provideImage;
  // One line per step ("[2/5] RUN make  1.2 s", "... cached").
  std::function<void(std::string_view line)> progress;
};

struct BuiltImage {
  std::string configJson;
  std::string manifestJson;
  std::string digest;  // the manifest's
  std::string platform;
  std::string created;                     // the config's
  std::vector<convert::LayerBlob> layers;  // bottom-up, base first
  int stepsRun = 0;
  int cacheHits = 0;
};

[[nodiscard]] Result<BuiltImage> buildDockerfile(const config::SiteConfig& site,
                                                 const DockerBuildRequest& request,
                                                 const Logger& log);

}  // namespace berth::build
