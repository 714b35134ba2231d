// pullImage: any source berth pulls from (registry reference, OCI layout or archive, docker
// archive, directory, squashfs) -> one squashfs image, in the image cache or at a chosen path.
//
// The library half of `berth pull`; provideImage (provide.hpp) pulls through it for every face.
// A reference with a tag is resolved to a digest once; an image already cached under that
// digest is reused without downloading anything.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "shared/cache/image_cache.hpp"
#include "shared/convert/converter.hpp"
#include "shared/core/log.hpp"
#include "shared/core/result.hpp"
#include "shared/registry/registry_client.hpp"

namespace berth::cache {

struct PullOptions {
  std::string platform;                         // "" = this host's
  std::optional<std::filesystem::path> output;  // write here instead of into the cache
  convert::ConvertOptions convert;
  // registry.cancelled stops a registry pull anywhere: requests, downloads (their partial
  // files removed), and the conversion before its next layer (its temp file removed).
  registry::RegistryOptions registry;
};

struct PullResult {
  std::string digest;  // the image's digest (manifest digest for layered sources)
  std::filesystem::path path;
  std::string reference;  // normalised source
  bool reused = false;    // found in the cache: nothing downloaded or converted
  std::optional<convert::ConvertStats> stats;
};

// What a pull tells its caller while it works (all optional).
struct PullObserver {
  registry::ProgressFn download;                                 // bytes per blob (worker threads)
  std::function<void(const registry::ResolvedImage&)> resolved;  // before downloads start
  std::function<void(std::string_view phase)> phase;             // "converting", ...
};

Result<PullResult> pullImage(std::string_view source, ImageCache& cache, const PullOptions& options,
                             const PullObserver& observer, const Logger& log);

}  // namespace berth::cache
