#include "shared/build/build_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "shared/core/atomic_file.hpp"
#include "shared/core/read_file.hpp"
#include "shared/registry/registry_client.hpp"

namespace berth::build {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr size_t kMaxEntryBytes = 64 << 10;

Result<StepCacheEntry> parseEntry(const std::string& text) {
  json doc = json::parse(text, nullptr, false);
  if (!doc.is_object())
    return Error("not a JSON object");
  StepCacheEntry entry;
  entry.blob = doc.value("blob", "");
  entry.diffId = doc.value("diffId", "");
  entry.size = doc.value("size", int64_t{0});
  entry.created = doc.value("created", "");
  if (!entry.blob.starts_with("sha256:") || !entry.diffId.starts_with("sha256:"))
    return Error("no blob or diffId");
  return entry;
}

}  // namespace

fs::path BuildCache::blobPath(std::string_view digest) const {
  return root_ / "blobs" / registry::blobFileName(digest);
}

Result<fs::path> BuildCache::entryPath(std::string_view key) const {
  if (!key.starts_with("sha256:") || key.size() != 71)
    return Error(fmt::format("bad build cache key `{}`", key));
  return root_ / "build" / (std::string(key.substr(7)) + ".json");
}

Result<std::optional<StepCacheEntry>> BuildCache::find(std::string_view key) const {
  BERTH_ASSIGN(fs::path path, entryPath(key));
  auto text = readRegularFile(path, kMaxEntryBytes);
  if (!text.ok())
    return std::optional<StepCacheEntry>();
  auto entry = parseEntry(*text);
  if (!entry.ok())
    return std::optional<StepCacheEntry>();  // a damaged entry is a miss; store replaces it
  fs::path blob = blobPath(entry->blob);
  struct stat st {};
  if (::stat(blob.c_str(), &st) != 0 || st.st_size != entry->size)
    return std::optional<StepCacheEntry>();
  (void)::utimensat(AT_FDCWD, blob.c_str(), nullptr, 0);
  return std::optional<StepCacheEntry>(std::move(entry).value());
}

Status BuildCache::store(std::string_view key, const StepCacheEntry& entry,
                         const fs::path& blobFile) const {
  std::error_code ec;
  fs::create_directories(root_ / "build", ec);
  fs::create_directories(root_ / "blobs", ec);
  fs::path blob = blobPath(entry.blob);
  if (::access(blob.c_str(), F_OK) != 0) {
    // Through a temp name in the blob directory: a reader never sees half a blob.
    BERTH_ASSIGN(AtomicFile file, AtomicFile::create(blob));
    fs::copy_file(blobFile, file.tempPath(), fs::copy_options::overwrite_existing, ec);
    if (ec)
      return Error(fmt::format("store layer {}: {}", entry.blob, ec.message()));
    BERTH_TRY(file.commit());
  }
  json doc = {{"blob", entry.blob},
              {"diffId", entry.diffId},
              {"size", entry.size},
              {"created", entry.created}};
  BERTH_ASSIGN(fs::path path, entryPath(key));
  BERTH_ASSIGN(AtomicFile file, AtomicFile::create(path));
  {
    std::ofstream out(file.tempPath(), std::ios::trunc);
    out << doc.dump();
    if (!out.flush())
      return Error(fmt::format("write `{}`", file.tempPath().string()));
  }
  return file.commit();
}

Result<int64_t> pruneBuildCache(const fs::path& cacheRoot) {
  BuildCache cache(cacheRoot);
  int64_t removed = 0;
  std::error_code ec;
  for (const auto& item : fs::directory_iterator(cacheRoot / "build", ec)) {
    const fs::path& path = item.path();
    if (path.extension() != ".json")
      continue;
    auto text = readRegularFile(path, kMaxEntryBytes);
    auto entry = text.ok() ? parseEntry(*text) : Result<StepCacheEntry>(Error("unreadable"));
    if (entry.ok() && ::access(cache.blobPath(entry->blob).c_str(), F_OK) == 0)
      continue;
    if (::unlink(path.c_str()) == 0)
      ++removed;
  }
  return removed;
}

}  // namespace berth::build
