// A build's base (FROM, Bootstrap: docker/localimage): the image in the cache, mounted by each
// step's container and never unpacked, and the layer blobs it was made of, which the built
// image lists before its own (so `berth push` uploads the base's exact blobs).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "shared/convert/converter.hpp"
#include "shared/core/result.hpp"
#include "shared/image/manifest.hpp"

namespace berth::build {

struct BaseImage {
  std::string name;                            // as the build file names it
  std::filesystem::path squashfs;              // the image the steps' containers mount
  std::string digest;                          // its manifest digest: where the cache keys start
  std::string configJson;                      // its OCI config ("" for scratch)
  std::vector<convert::LayerBlob> layers;      // bottom-up
  std::vector<image::Descriptor> descriptors;  // the same layers, as a manifest lists them
};

// The base in the squashfs `image` (from the image cache): its config, and its layers from its
// manifest (blobs in `blobDir`, where pulls keep them) or from the OCI layout it was imported
// from (those blobs are linked into `blobDir`, for push).
[[nodiscard]] Result<BaseImage> loadBaseImage(const std::filesystem::path& image, std::string name,
                                              const std::filesystem::path& blobDir);

// FROM scratch: an empty squashfs under `scratchDir`, no layers.
[[nodiscard]] Result<BaseImage> scratchBaseImage(const std::filesystem::path& scratchDir,
                                                 const Logger& log);

}  // namespace berth::build
