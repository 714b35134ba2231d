#include "shared/cache/image_cache.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shared/core/atomic_file.hpp"
#include "shared/core/process_env.hpp"
#include "shared/core/read_file.hpp"
#include "shared/image/digest.hpp"
#include "shared/image/reference.hpp"

namespace berth::cache {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kImageSuffix = ".sqsh";
constexpr auto kIndexLockTimeout = std::chrono::seconds(60);

int64_t now() {
  return static_cast<int64_t>(std::time(nullptr));
}

bool isHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// index.json, in memory.
struct Index {
  struct Image {
    int64_t size = 0;
    int64_t lastUsed = 0;
  };
  std::map<std::string, Image> images;            // digest -> facts
  std::map<std::string, std::string> references;  // reference -> digest
};

Result<Index> readIndex(const fs::path& path) {
  Index index;
  Result<std::string> text = readWholeFile(path);
  if (!text.ok())
    return index;  // no index yet
  json doc = json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Error(fmt::format("cache index `{}` is not valid JSON", path.string()));
  try {
    const json images = doc.value("images", json::object());
    const json references = doc.value("references", json::object());
    for (const auto& [digest, facts] : images.items())
      index.images[digest] = {facts.value("size", int64_t{0}), facts.value("lastUsed", int64_t{0})};
    for (const auto& [ref, digest] : references.items())
      index.references[ref] = digest.get<std::string>();
  } catch (const json::exception& e) {
    return Error(fmt::format("cache index `{}`: {}", path.string(), e.what()));
  }
  return index;
}

Status writeIndex(const fs::path& path, const Index& index) {
  json doc = {{"version", 1}, {"images", json::object()}, {"references", index.references}};
  for (const auto& [digest, facts] : index.images)
    doc["images"][digest] = {{"size", facts.size}, {"lastUsed", facts.lastUsed}};
  BERTH_ASSIGN(AtomicFile file, AtomicFile::create(path));
  {
    std::ofstream out(file.tempPath());
    out << doc.dump(2) << '\n';
    if (!out.flush())
      return errnoError(fmt::format("write `{}`", file.tempPath().string()));
  }
  return file.commit();
}

}  // namespace

Result<std::string> digestFileStem(std::string_view digest) {
  if (digest.substr(0, image::kSha256Prefix.size()) != image::kSha256Prefix ||
      digest.size() != image::kSha256Prefix.size() + 64 ||
      !isHex(digest.substr(image::kSha256Prefix.size())))
    return Error(fmt::format("`{}` is not a sha256 digest", digest));
  return fmt::format("sha256-{}", digest.substr(image::kSha256Prefix.size()));
}

fs::path ImageCache::defaultRoot() {
  auto set = [](std::string_view name) {
    std::optional<std::string> value = processEnv(name);
    return value && !value->empty() ? value : std::nullopt;
  };
  if (auto dir = set("BERTH_CACHE_DIR"))
    return *dir;
  if (::geteuid() == 0)
    return "/var/cache/berth";
  if (auto xdg = set("XDG_CACHE_HOME"))
    return fs::path(*xdg) / "berth";
  return fs::path(set("HOME").value_or("/tmp")) / ".cache" / "berth";
}

Result<ImageCache> ImageCache::open(const fs::path& root, const sys::TrustedOwners& owners) {
  ImageCache cache(root, owners);
  // What root is about to create must not land below a directory a user controls.
  fs::path existing = fs::absolute(root).lexically_normal();
  std::error_code ec;
  while (!fs::exists(existing, ec) && existing.has_relative_path())
    existing = existing.parent_path();
  BERTH_TRY(cache.checkTrusted(existing));
  for (const char* sub : {"images", "blobs", "locks"}) {
    fs::create_directories(root / sub, ec);
    if (ec)
      return Error(
          fmt::format("image cache `{}`: create `{}`: {}", root.string(), sub, ec.message()),
          ec.value());
    BERTH_TRY(cache.checkTrusted(root / sub));
  }
  BERTH_TRY(cache.removeStaleTemps());
  return cache;
}

Status ImageCache::checkTrusted(const fs::path& path) const {
  if (::geteuid() != 0)
    return okStatus();  // a user's berth can only write what that user could anyway
  return sys::checkTrustedPath(path, owners_)
      .withContext(fmt::format("image cache `{}` refused: as root, berth uses only a cache that "
                               "no one but root or the cache owner can change",
                               root_.string()));
}

Status ImageCache::removeStaleTemps() const {
  for (const char* sub : {"images", "blobs"}) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root_ / sub, ec)) {
      std::string name = entry.path().filename().string();
      if (!AtomicFile::isTempName(name))
        continue;
      // images/.sha256-<hex>.sqsh.tmp-XXXXXX: stale unless a writer holds sha256-<hex>.lock.
      std::string stem = AtomicFile::finalNameOf(name);
      if (stem.size() > kImageSuffix.size() && stem.ends_with(kImageSuffix))
        stem.resize(stem.size() - kImageSuffix.size());
      auto lock = FileLock::tryAcquire(root_ / "locks" / (stem + ".lock"), LockMode::kExclusive);
      if (lock.ok())
        fs::remove(entry.path(), ec);
    }
  }
  // Scratch directories of imports (archives extracted, directories converted) whose process
  // died: no lock names them, so only ones untouched for a day are taken for dead.
  std::error_code ec;
  auto dayAgo = fs::file_time_type::clock::now() - std::chrono::hours(24);
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    if (!AtomicFile::isTempName(entry.path().filename().string()))
      continue;
    if (entry.is_directory(ec)) {
      if (entry.last_write_time(ec) < dayAgo)
        fs::remove_all(entry.path(), ec);
    } else if (FileLock::tryAcquire(root_ / "index.lock", LockMode::kExclusive).ok()) {
      fs::remove(entry.path(), ec);  // index.json being replaced when its writer died
    }
  }
  return okStatus();
}

Result<fs::path> ImageCache::imagePath(std::string_view digest) const {
  BERTH_ASSIGN(std::string stem, digestFileStem(digest));
  return root_ / "images" / (stem + std::string(kImageSuffix));
}

Result<FileLock> ImageCache::lockDigest(std::string_view digest,
                                        std::chrono::milliseconds timeout) const {
  BERTH_ASSIGN(std::string stem, digestFileStem(digest));
  return FileLock::acquire(root_ / "locks" / (stem + ".lock"), LockMode::kExclusive, timeout);
}

Result<std::vector<CachedImage>> ImageCache::list() const {
  BERTH_ASSIGN(Index index, readIndex(root_ / "index.json"));
  std::map<std::string, std::vector<std::string>> refs;
  for (const auto& [ref, digest] : index.references)
    refs[digest].push_back(ref);
  std::vector<CachedImage> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_ / "images", ec)) {
    std::string name = entry.path().filename().string();
    if (AtomicFile::isTempName(name) || !name.starts_with("sha256-") ||
        !name.ends_with(kImageSuffix))
      continue;
    CachedImage image;
    image.digest = fmt::format("sha256:{}", name.substr(7, name.size() - 7 - kImageSuffix.size()));
    image.path = entry.path();
    struct stat st {};
    if (::stat(entry.path().c_str(), &st) != 0)
      continue;  // removed meanwhile
    image.size = st.st_size;
    image.lastUsed = st.st_mtime;
    if (auto it = index.images.find(image.digest); it != index.images.end())
      image.lastUsed = it->second.lastUsed;
    std::string joined;
    for (const auto& ref : refs[image.digest])
      joined += (joined.empty() ? "" : ",") + ref;
    image.reference = joined;
    out.push_back(std::move(image));
  }
  std::sort(out.begin(), out.end(),
            [](const CachedImage& a, const CachedImage& b) { return a.lastUsed > b.lastUsed; });
  return out;
}

Result<std::string> ImageCache::resolveDigest(std::string_view text) const {
  BERTH_ASSIGN(std::vector<CachedImage> images, list());
  std::string_view hex = text;
  if (hex.substr(0, image::kSha256Prefix.size()) == image::kSha256Prefix)
    hex.remove_prefix(image::kSha256Prefix.size());
  if (hex.size() >= 12 && isHex(hex)) {
    std::vector<std::string> matches;
    for (const auto& image : images) {
      if (std::string_view(image.digest).substr(image::kSha256Prefix.size(), hex.size()) == hex)
        matches.push_back(image.digest);
    }
    if (matches.size() > 1)
      return Error(fmt::format("`{}` matches {} cached images", text, matches.size()));
    return matches.empty() ? std::string() : matches[0];
  }
  BERTH_ASSIGN(Index index, readIndex(root_ / "index.json"));
  auto it = index.references.find(std::string(text));
  if (it == index.references.end()) {
    // `ubuntu:22.04` names what was pulled as docker.io/library/ubuntu:22.04.
    if (auto ref = image::parseImageReference(text); ref.ok())
      it = index.references.find(ref->toString());
  }
  return it == index.references.end() ? std::string() : it->second;
}

Result<std::optional<CachedImage>> ImageCache::find(std::string_view referenceOrDigest) const {
  BERTH_ASSIGN(std::string digest, resolveDigest(referenceOrDigest));
  if (digest.empty())
    return std::optional<CachedImage>();
  BERTH_ASSIGN(std::vector<CachedImage> images, list());
  for (auto& image : images) {
    if (image.digest != digest)
      continue;
    BERTH_TRY(checkTrusted(image.path));  // root mounts what it finds here for any user
    return std::optional<CachedImage>(std::move(image));
  }
  return std::optional<CachedImage>();
}

Status ImageCache::touch(std::string_view digest, std::optional<int64_t> when) {
  BERTH_ASSIGN(FileLock lock,
               FileLock::acquire(root_ / "index.lock", LockMode::kExclusive, kIndexLockTimeout));
  BERTH_ASSIGN(Index index, readIndex(root_ / "index.json"));
  index.images[std::string(digest)].lastUsed = when.value_or(now());
  return writeIndex(root_ / "index.json", index);
}

Result<std::optional<fs::path>> ImageCache::findImageFile(std::string_view digest) const {
  BERTH_ASSIGN(fs::path path, imagePath(digest));
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return std::optional<fs::path>();
    return errnoError(fmt::format("image cache: stat `{}`", path.string()));
  }
  if (!S_ISREG(st.st_mode))
    return Error(fmt::format("image cache: `{}` is not a regular file", path.string()));
  BERTH_TRY(checkTrusted(path));
  return std::optional<fs::path>(std::move(path));
}

Status ImageCache::touchIfOlder(std::string_view digest, std::chrono::seconds interval,
                                std::optional<int64_t> when) {
  int64_t at = when.value_or(now());
  // The index is replaced atomically (AtomicFile): reading it without the lock is safe.
  BERTH_ASSIGN(Index index, readIndex(root_ / "index.json"));
  if (auto it = index.images.find(std::string(digest));
      it != index.images.end() && it->second.lastUsed <= at &&
      at - it->second.lastUsed < static_cast<int64_t>(interval.count()))
    return okStatus();
  return touch(digest, at);
}

Status ImageCache::recordReference(std::string_view reference, std::string_view digest) {
  BERTH_ASSIGN(fs::path path, imagePath(digest));
  BERTH_ASSIGN(FileLock lock,
               FileLock::acquire(root_ / "index.lock", LockMode::kExclusive, kIndexLockTimeout));
  BERTH_ASSIGN(Index index, readIndex(root_ / "index.json"));
  auto& facts = index.images[std::string(digest)];
  std::error_code ec;
  facts.size = static_cast<int64_t>(fs::file_size(path, ec));
  facts.lastUsed = now();
  if (!reference.empty())
    index.references[std::string(reference)] = std::string(digest);
  return writeIndex(root_ / "index.json", index);
}

Status ImageCache::remove(std::string_view referenceOrDigest) {
  BERTH_ASSIGN(std::string digest, resolveDigest(referenceOrDigest));
  if (digest.empty())
    return Error(
        fmt::format("`{}` is not in the image cache `{}`", referenceOrDigest, root_.string()));
  BERTH_ASSIGN(FileLock digestLock, lockDigest(digest, std::chrono::seconds(10)));
  return removeLocked(digest);
}

Status ImageCache::removeLocked(const std::string& digest) {
  BERTH_ASSIGN(fs::path path, imagePath(digest));
  // A running container keeps its mounted image: unlinking only removes the name.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return errnoError(fmt::format("remove `{}`", path.string()));
  BERTH_ASSIGN(FileLock lock,
               FileLock::acquire(root_ / "index.lock", LockMode::kExclusive, kIndexLockTimeout));
  BERTH_ASSIGN(Index index, readIndex(root_ / "index.json"));
  index.images.erase(digest);
  std::erase_if(index.references, [&](const auto& kv) { return kv.second == digest; });
  return writeIndex(root_ / "index.json", index);
}

Result<GcResult> ImageCache::gc(std::optional<int64_t> maxSize,
                                std::optional<std::chrono::seconds> olderThan) {
  // Images and blobs compete for space alike: least recently used first.
  struct Item {
    std::optional<CachedImage> image;
    fs::path blob;
    int64_t size = 0;
    int64_t lastUsed = 0;
  };
  std::vector<Item> items;
  BERTH_ASSIGN(std::vector<CachedImage> images, list());
  for (auto& image : images)
    items.push_back({image, {}, image.size, image.lastUsed});
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(blobDir(), ec)) {
    struct stat st {};
    if (AtomicFile::isTempName(entry.path().filename().string()) ||
        ::stat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    items.push_back({std::nullopt, entry.path(), st.st_size, st.st_mtime});
  }
  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return a.lastUsed < b.lastUsed; });
  int64_t total = 0;
  for (const auto& item : items)
    total += item.size;
  int64_t cutoff = olderThan ? now() - olderThan->count() : INT64_MIN;

  GcResult result;
  for (const auto& item : items) {
    bool tooOld = item.lastUsed < cutoff;
    bool tooBig = maxSize && total > *maxSize;
    if (!tooOld && !tooBig)
      continue;
    if (item.image) {
      auto lock = FileLock::tryAcquire(
          root_ / "locks" / (*digestFileStem(item.image->digest) + ".lock"), LockMode::kExclusive);
      if (!lock.ok())
        continue;  // being written right now
      BERTH_TRY(removeLocked(item.image->digest));
      result.removedImages.push_back(*item.image);
    } else {
      if (::unlink(item.blob.c_str()) != 0 && errno != ENOENT)
        return errnoError(fmt::format("remove `{}`", item.blob.string()));
      ++result.removedBlobs;
    }
    total -= item.size;
    result.bytesFreed += item.size;
  }
  return result;
}

Result<CachedImage> ImageCache::ensure(std::string_view digest, std::string_view reference,
                                       const ProduceFn& produce,
                                       std::chrono::milliseconds lockTimeout) {
  BERTH_ASSIGN(fs::path path, imagePath(digest));
  if (::access(path.c_str(), F_OK) != 0) {
    BERTH_ASSIGN(FileLock lock, lockDigest(digest, lockTimeout));
    // Whoever held the lock before us may have made it.
    if (::access(path.c_str(), F_OK) != 0)
      BERTH_TRY(produce(path));
  }
  BERTH_TRY(recordReference(reference, digest));
  BERTH_ASSIGN(std::optional<CachedImage> image, find(digest));
  if (!image)
    return Error(fmt::format("image {} vanished from the cache `{}`", digest, root_.string()));
  return *image;
}

}  // namespace berth::cache
