// The build cache: one entry per step key (cache_key.hpp), next to the image cache.
//
//   CACHE/build/<key hex>.json   {blob, diffId, size, created, createdBy}
//   CACHE/blobs/sha256-<hex>     the step's layer blob (the image cache's blob directory: what
//                                `berth push` uploads, and what gc ages out)
//
// An entry whose blob is gone is a miss (and gc removes it: pruneBuildCache).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "shared/core/result.hpp"

namespace berth::build {

struct StepCacheEntry {
  std::string blob;     // "sha256:..." of the gzip layer
  std::string diffId;   // "sha256:..." of the tar
  int64_t size = 0;     // bytes of the blob
  std::string created;  // the history entry's time (RFC 3339)
};

class BuildCache {
 public:
  // `cacheRoot`: the image cache's root; blobs live in its blobs/ directory.
  explicit BuildCache(std::filesystem::path cacheRoot) : root_(std::move(cacheRoot)) {}

  std::filesystem::path blobPath(std::string_view digest) const;
  // The entry of `key`, when it and its blob are there (the blob's time is refreshed: gc ages
  // blobs by it).
  [[nodiscard]] Result<std::optional<StepCacheEntry>> find(std::string_view key) const;
  // Moves the layer file `blobFile` into the blob directory and records the entry.
  [[nodiscard]] Status store(std::string_view key, const StepCacheEntry& entry,
                             const std::filesystem::path& blobFile) const;

 private:
  Result<std::filesystem::path> entryPath(std::string_view key) const;
  std::filesystem::path root_;
};

// Removes the entries whose blob is gone (after the image cache's gc); how many went.
[[nodiscard]] Result<int64_t> pruneBuildCache(const std::filesystem::path& cacheRoot);

}  // namespace berth::build
