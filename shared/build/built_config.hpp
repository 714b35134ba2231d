// The OCI config and manifest of a built image: the base's config with the stage's settings
// (Env, Cmd, Entrypoint, WorkingDir, User, Labels, ...) and the steps' layers and history
// appended. Fields berth does not set are kept as the base has them.
#pragma once

#include <string>
#include <vector>

#include "shared/build/dockerfile.hpp"
#include "shared/core/result.hpp"
#include "shared/image/manifest.hpp"

namespace berth::build {

// A base image's settings as a Dockerfile stage starts from them ("{}" or "": none).
[[nodiscard]] Result<BaseImageConfig> baseConfigFromOci(const std::string& configJson);

// One history entry of a step.
struct HistoryEntry {
  std::string created;  // RFC 3339
  std::string createdBy;
  bool emptyLayer = false;
};

struct BuiltConfigInput {
  std::string baseConfigJson;  // "" for scratch
  StageConfig config;
  std::vector<std::string> diffIds;  // the steps' layers, bottom-up (appended to the base's)
  std::vector<HistoryEntry> history;
  std::string created;   // the image's creation time
  std::string platform;  // "linux/amd64": os/architecture/variant when the base has none
};

// The config JSON (compact, keys sorted: the same input gives the same bytes).
[[nodiscard]] Result<std::string> builtConfigJson(const BuiltConfigInput& input);

// An OCI image manifest (application/vnd.oci.image.manifest.v1+json) for the config and layers.
std::string builtManifestJson(const image::Descriptor& config,
                              const std::vector<image::Descriptor>& layers);

inline constexpr const char* kOciManifestType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciConfigType = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kOciLayerGzipType = "application/vnd.oci.image.layer.v1.tar+gzip";

// RFC 3339 UTC of Unix seconds ("2026-01-02T03:04:05Z").
std::string rfc3339(int64_t seconds);

}  // namespace berth::build
