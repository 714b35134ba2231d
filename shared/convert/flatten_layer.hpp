// flattenSquashfs: a squashfs image -> ONE OCI layer blob (a tar stream, gzip or zstd), the
// whole tree as the squashfs holds it: owners, modes (setuid, setgid, sticky), mtimes, xattrs,
// symlinks, hard links (the first name carries the data, later names link to it), device
// nodes and fifos. What `berth push` sends for an image that is not a pulled one (a sandbox,
// a saved container, --squash).
//
// Read with libsquashfs, written with libarchive (pax where needed: long names, xattrs, big
// files), compressed on every CPU (flatten_compress.hpp); nothing is unpacked to disk. Entries
// come in tar order: "./" first, a directory before its children, names sorted, so the same
// image always gives the same blob.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "shared/convert/flatten_compress.hpp"
#include "shared/core/log.hpp"
#include "shared/core/result.hpp"

namespace berth::convert {

struct FlattenOptions {
  CompressOptions compress;
  // Paths (relative, "a/b") left out: what a pull makes anew (/.berth/config.json and
  // /.berth/source.json), so the layer does not carry stale copies of them.
  std::vector<std::string> exclude;
};

struct FlattenStats {
  int64_t entries = 0;    // tar entries written
  int64_t hardLinks = 0;  // of them hard links
  int64_t xattrs = 0;     // extended attributes written
  int64_t skipped = 0;    // sockets and `.wh.` names (a layer cannot carry them)
};

struct FlatLayer {
  CompressedLayer blob;
  FlattenStats stats;
};

// Writes the layer blob of `image` to `fd`.
Result<FlatLayer> flattenSquashfs(const std::filesystem::path& image, int fd,
                                  const FlattenOptions& options, const Logger& log);

}  // namespace berth::convert
