// A build step's overlayfs upper directory -> one deterministic OCI layer (docs/build.md, "From
// a step to a layer").
//
// The upper directory of `overlay(lower = ..., upper = U)` mounted with redirect_dir=off,
// metacopy=off, index=off holds exactly what the step changed, in overlayfs's own encoding; the
// layer says the same in OCI's:
//   - a 0/0 character device NAME (a deletion)         -> an empty file `.wh.NAME`
//   - a directory with overlay.opaque = "y"            -> the directory and `DIR/.wh..wh..opq`
//     (trusted.overlay.opaque as root, user.overlay.opaque with `userxattr`)
//   - owners as the host sees them                     -> mapped back through the step's user
//     namespace map (an owner the map does not cover is an error: it cannot be represented)
//   - extended attributes                              -> kept (SCHILY.xattr), less overlay's own
//   - files sharing an inode                           -> one file, then hard-link entries
// Entries come parents first, children in byte order of their names, whiteouts of a directory
// first; times are seconds (clamped to SOURCE_DATE_EPOCH when given); no user or group names;
// gzip without file name or time. The same tree gives the same bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::build {

// One line of /proc/PID/uid_map: ids inside..inside+count-1 are outside..outside+count-1 on
// the host.
struct IdMapRange {
  uint32_t inside = 0;
  uint32_t outside = 0;
  uint32_t count = 0;
};

// Host id -> id in the namespace; an empty map is the identity (a root build). nullopt: the
// map does not cover `hostId`.
std::optional<uint32_t> mapIdBack(const std::vector<IdMapRange>& map, uint32_t hostId);

struct LayerWriteOptions {
  std::vector<IdMapRange> uidMap;          // empty: identity
  std::vector<IdMapRange> gidMap;          // empty: identity
  std::optional<int64_t> sourceDateEpoch;  // later mtimes are clamped to it
  int gzipLevel = 6;                       // zlib level (-1..9); Docker's default is 6
};

struct LayerBlob {
  std::string digest;   // "sha256:..." of the gzip file: the blob's name
  std::string diffId;   // "sha256:..." of the uncompressed tar: the config's rootfs diff_id
  int64_t size = 0;     // bytes of the gzip file
  int64_t entries = 0;  // tar entries written (0: the step changed nothing)
};

// Writes the layer for `upper` to `output` (created or truncated, mode 0644).
[[nodiscard]] Result<LayerBlob> writeLayerFromUpper(const std::filesystem::path& upper,
                                                    const std::filesystem::path& output,
                                                    const LayerWriteOptions& options = {});

}  // namespace berth::build
