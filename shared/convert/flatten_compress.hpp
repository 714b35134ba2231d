// LayerCompressor: the tar stream of a flattened layer -> a gzip or zstd layer blob in a file,
// on every CPU. gzip the way pigz makes it: blocks of 1 MiB deflated in parallel, each primed
// with the 32 KiB before it and ended with a sync flush, joined into ONE gzip member (any
// gunzip reads it; no file name, no time stamp, so the bytes depend only on the input and the
// level). zstd with libzstd's own worker threads. Both sides are hashed on the way: the blob's
// digest and the tar stream's diff_id.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "shared/core/result.hpp"
#include "shared/image/manifest.hpp"

namespace berth::convert {

struct CompressedLayer {
  std::string digest;    // sha256 of the compressed blob
  std::string diffId;    // sha256 of the tar stream
  int64_t size = 0;      // bytes of the blob
  int64_t tarBytes = 0;  // bytes of the tar stream
};

struct CompressOptions {
  image::Compression compression = image::Compression::kGzip;
  int level = 0;         // 0: the codec's default for layers (gzip 6, zstd 3)
  unsigned threads = 0;  // 0: all CPUs
};

class LayerCompressor {
 public:
  // Writes the blob to `fd` (from its current position); the caller owns the fd.
  static Result<std::unique_ptr<LayerCompressor>> create(const CompressOptions& options, int fd);
  virtual ~LayerCompressor() = default;

  // More of the tar stream.
  virtual Status write(std::string_view data) = 0;
  // Flushes everything; the blob is complete in the file afterwards.
  virtual Result<CompressedLayer> finish() = 0;
};

}  // namespace berth::convert
