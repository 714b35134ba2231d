// pushImage: a berth image (a squashfs with /.berth/ metadata, or a sandbox directory) -> an
// image in a registry.
//
// Two ways, chosen by what the image's /.berth/source.json says:
//   exact      a pulled image, unchanged: its manifest as served (kept in source.json), its
//              config (/.berth/config.json, the blob as served) and its layer blobs (from the
//              blob cache, else fetched from where it came from, or mounted when that is a
//              repository of the target's registry) are pushed again: the same manifest digest.
//   flattened  anything else (a sandbox, a saved container, an imported squashfs, --squash):
//              the tree becomes ONE layer (flatten_layer.hpp) under a new config that keeps
//              the old one's Env, Entrypoint, Cmd, WorkingDir, User, Labels, ... verbatim, with
//              one history entry for the one layer. A sandbox directory is first converted to a
//              squashfs the way `berth pull DIR` does it.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "shared/container/image_source.hpp"
#include "shared/convert/converter.hpp"
#include "shared/convert/flatten_layer.hpp"
#include "shared/core/log.hpp"
#include "shared/core/result.hpp"
#include "shared/image/reference.hpp"
#include "shared/registry/registry_client.hpp"

namespace berth::push {

struct PushOptions {
  registry::RegistryOptions registry;
  registry::UploadOptions upload;
  convert::CompressOptions compress;  // of a flattened layer
  bool squash = false;                // flatten even a pulled image
  convert::ConvertOptions convert;    // a sandbox's conversion to a squashfs
  // The blob cache of the image cache (blobs kept by pulls); empty: none.
  std::filesystem::path blobDir;
  // Where a flattened layer and re-fetched blobs are written while the push runs.
  std::filesystem::path scratchDir;
  // What the user called the image (a cache reference), for messages; empty: its path.
  std::string imageName;
};

struct PushResult {
  std::string digest;     // the manifest's
  std::string reference;  // the target, normalised
  bool exact = false;     // the pulled image's own manifest, not a flattened one
  int present = 0;        // blobs the repository had
  int mounted = 0;        // blobs mounted from another repository
  int uploaded = 0;       // blobs sent
  int64_t bytesUploaded = 0;
};

// What a push tells its caller while it works (all optional).
struct PushObserver {
  std::function<void(std::string_view phase)> phase;  // "flattening ...", ...
  // Before blobs go out: all of them (layers, then the config).
  std::function<void(const std::vector<image::Descriptor>& blobs)> blobs;
  registry::ProgressFn upload;  // bytes sent per blob (worker threads, one call at a time)
};

// Pushes `image` to `target`.
Result<PushResult> pushImage(const container::ImageLocation& image,
                             const image::ImageReference& target, const PushOptions& options,
                             const PushObserver& observer, const Logger& log);

// The config of a flattened image: `original` (an OCI config, may be empty) with its `config`
// object and platform fields kept verbatim, rootfs naming the one layer `diffId` and one
// history entry for it, created at `created` (RFC 3339). `platform` fills in the platform
// when `original` has none.
Result<std::string> flattenedConfig(std::string_view original, const std::string& diffId,
                                    const std::string& created, const std::string& platform,
                                    const std::string& createdBy);

// The OCI manifest of a one-layer image.
std::string oneLayerManifest(const image::Descriptor& config, const image::Descriptor& layer);

}  // namespace berth::push
