// ImageCache: squashfs images by digest, an index of reference -> digest, per-digest locks.
//
//   ROOT/images/sha256-<hex>.sqsh   one image; exists only once complete (AtomicFile rename)
//   ROOT/blobs/sha256-<hex>         compressed layer/config blobs kept for re-pulls
//   ROOT/index.json                 references, sizes, last use; replaced atomically under
//   ROOT/index.lock                 this lock
//   ROOT/locks/sha256-<hex>.lock    held by whoever creates or removes that image
//
// The directory may be per user or site-wide on a shared filesystem (flock must work across
// nodes there). A writer takes the digest lock, checks again, writes a temp file next to the
// target and renames it: readers never see half an image, N processes asking for one image
// produce it once, and a killed writer leaves only a temp file that open() removes once its
// digest lock is free.
//
// Root trusts a cache only when no one else can change it (sys::checkTrustedPath): the cache
// and every directory above it owned by root or the site's cache owner, writable by no one
// else. Otherwise a user could swap an image that another user's step then runs, or plant a
// symlink that makes root write elsewhere. Such a cache is refused with one line.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/file_lock.hpp"
#include "shared/core/result.hpp"
#include "shared/sys/trusted_path.hpp"

namespace berth::cache {

struct CachedImage {
  std::string digest;  // "sha256:<hex>"
  std::filesystem::path path;
  std::string reference;  // the references naming it, comma-separated; may be empty
  int64_t size = 0;
  int64_t lastUsed = 0;  // Unix seconds
};

// What gc removed.
struct GcResult {
  std::vector<CachedImage> removedImages;
  int64_t removedBlobs = 0;
  int64_t bytesFreed = 0;
};

// "sha256:<64 hex>" -> "sha256-<64 hex>", the name stem used on disk; other input is an error.
Result<std::string> digestFileStem(std::string_view digest);

class ImageCache {
 public:
  // $BERTH_CACHE_DIR; else /var/cache/berth for root; else $XDG_CACHE_HOME/berth or
  // ~/.cache/berth.
  static std::filesystem::path defaultRoot();

  // Creates the layout if missing and removes temp files that no writer holds. As root, a
  // cache that anyone but `owners` could change is refused.
  static Result<ImageCache> open(const std::filesystem::path& root,
                                 const sys::TrustedOwners& owners = {});
  // The cache at `root` as it is, for a reader on a hot path (a Slurm step start on every
  // node): nothing is created or cleaned up, nothing is read yet (findImageFile checks, as
  // root, that the cache can be trusted).
  static ImageCache attach(const std::filesystem::path& root,
                           const sys::TrustedOwners& owners = {}) {
    return ImageCache(root, owners);
  }

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path blobDir() const { return root_ / "blobs"; }
  Result<std::filesystem::path> imagePath(std::string_view digest) const;

  // By digest ("sha256:<hex>", or a unique prefix of at least 12 hex digits) or by reference.
  Result<std::optional<CachedImage>> find(std::string_view referenceOrDigest) const;
  Result<std::vector<CachedImage>> list() const;
  Status remove(std::string_view referenceOrDigest);
  // Removes images (least recently used first) and blobs until the cache holds at most
  // `maxSize` bytes, and everything not used for `olderThan`.
  Result<GcResult> gc(std::optional<int64_t> maxSize,
                      std::optional<std::chrono::seconds> olderThan);
  // The image file of `digest` if it is in the cache: one stat, no index read, no directory
  // scan (images appear atomically, by rename). Other errors than "not there" are errors. As
  // root, also the trust check of the cache's images directory and of the file.
  Result<std::optional<std::filesystem::path>> findImageFile(std::string_view digest) const;
  // Marks `digest` used now (or at `when`, Unix seconds).
  Status touch(std::string_view digest, std::optional<int64_t> when = std::nullopt);
  // touch(), unless the index already says `digest` was used within `interval` of `when`
  // (default now): then only the index is read, without its lock, and nothing is written. For
  // callers that use an image often (every Slurm step): the index lock and the write with its
  // fsyncs are taken at most once per interval, at the price of that much imprecision in
  // "least recently used" for gc.
  Status touchIfOlder(std::string_view digest, std::chrono::seconds interval,
                      std::optional<int64_t> when = std::nullopt);
  // Points `reference` at `digest` (and records the image's size).
  Status recordReference(std::string_view reference, std::string_view digest);

  // The lock of one digest (exclusive: creating or removing the image).
  Result<FileLock> lockDigest(std::string_view digest, std::chrono::milliseconds timeout) const;

  // The image `digest`, produced if missing: under the digest lock, re-checked, `produce` is
  // called with the final path (it must create it atomically, e.g. convertLayers). Others
  // asking for the same digest meanwhile wait for the lock, then reuse the image.
  using ProduceFn = std::function<Status(const std::filesystem::path& output)>;
  Result<CachedImage> ensure(std::string_view digest, std::string_view reference,
                             const ProduceFn& produce,
                             std::chrono::milliseconds lockTimeout = std::chrono::hours(1));

 private:
  ImageCache(std::filesystem::path root, const sys::TrustedOwners& owners)
      : root_(std::move(root)), owners_(owners) {}
  // As root: refuses the cache when anyone but root or owners_ could change it.
  Status checkTrusted(const std::filesystem::path& path) const;
  Status removeStaleTemps() const;
  Status removeLocked(const std::string& digest);  // the caller holds the digest lock
  Result<std::string> resolveDigest(std::string_view referenceOrDigest) const;

  std::filesystem::path root_;
  sys::TrustedOwners owners_;
};

}  // namespace berth::cache
