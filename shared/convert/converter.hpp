// The converter: image layers (or a directory) -> one squashfs image with /.berth/ metadata.
//
// Layers are read top-down (LayerMerger), file data streams from the decompressed tar into
// libsquashfs's block compression; nothing is unpacked to disk. The image appears at `output`
// only when complete (AtomicFile: temp file in the same directory, fsync, rename).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "shared/convert/image_limits.hpp"
#include "shared/convert/layer_merge.hpp"
#include "shared/convert/squashfs_writer.hpp"
#include "shared/core/log.hpp"
#include "shared/core/result.hpp"

namespace berth::convert {

// One layer to convert. Whatever its source, its bytes are checked while it is read: the blob
// against `digest` and `size` (unless a download checked them already) and the uncompressed
// stream against the config's rootfs.diff_ids; a mismatch fails the conversion, so no image is
// ever made from a tampered layer.
struct LayerBlob {
  std::filesystem::path path;  // the (compressed) layer blob
  std::string mediaType;       // may be empty: detected
  // "sha256:..." of the blob as stored; names the layer in messages. Empty where the source
  // names layers by path (docker-archive: the diff_id covers them).
  std::string digest;
  // When set, called before the layer is opened: blocks until the blob is in place (a download
  // running in the background) and returns its error, if any.
  std::function<Status()> ready;
  int64_t size = -1;          // bytes the descriptor promises; -1: not known
  bool blobVerified = false;  // digest and size were checked on download (registry blobs)
};

// Files placed under /.berth/ (metadata.hpp); an empty string is not written.
struct ImageMetadataFiles {
  std::string configJson;  // the OCI config blob as served
  std::string sourceJson;  // serializeImageSource()
};

struct ConvertOptions {
  int zstdLevel = 3;
  unsigned workers = 0;      // block compression threads; 0 = all CPUs
  bool stripSetuid = false;  // remove setuid/setgid bits and file capabilities (a site's choice)
  uint32_t mkfsTime = 0;
  ImageLimits limits{};
};

// An image of `layers` layers within `limits`, else the error naming max_layers. Checked by
// convertLayers, and by a pull before it downloads anything.
Status checkLayerCount(size_t layers, const ImageLimits& limits);

struct ConvertStats {
  MergeStats merge;
  SquashfsStats squashfs;
  double seconds = 0;
};

// Called after each layer: index (bottom-up), layers in all.
using LayerDoneFn = std::function<void(size_t index, size_t count)>;

Result<ConvertStats> convertLayers(const std::vector<LayerBlob>& bottomUp,
                                   const ImageMetadataFiles& metadata,
                                   const std::filesystem::path& output,
                                   const ConvertOptions& options, const Logger& log,
                                   const LayerDoneFn& onLayer = {});

// A directory tree (sandbox) as the only layer.
Result<ConvertStats> convertDirectory(const std::filesystem::path& root,
                                      const ImageMetadataFiles& metadata,
                                      const std::filesystem::path& output,
                                      const ConvertOptions& options, const Logger& log);

}  // namespace berth::convert
