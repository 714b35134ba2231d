// `berth cache list|rm|gc`: look after the image cache (ImageCache).
#include <ctime>
#include <memory>

#include <fmt/format.h>

#include "image_tool/command.hpp"
#include "image_tool/site.hpp"
#include "shared/build/build_cache.hpp"
#include "shared/cache/image_cache.hpp"
#include "shared/core/units.hpp"

namespace berth::cli {
namespace {

struct CacheCommandOptions {
  std::string cacheDir;
  std::string target;     // rm
  std::string maxSize;    // gc
  std::string olderThan;  // gc
};

std::string human(int64_t bytes) {
  if (bytes >= (1LL << 30))
    return fmt::format("{:.1f}G", bytes / double(1LL << 30));
  if (bytes >= (1LL << 20))
    return fmt::format("{:.1f}M", bytes / double(1LL << 20));
  return fmt::format("{:.1f}K", bytes / 1024.0);
}

std::string when(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

Result<cache::ImageCache> openCommandCache(const CacheCommandOptions& o) {
  BERTH_ASSIGN(config::SiteConfig site, loadSite());
  return openCache(site, o.cacheDir);
}

Result<int> list(const CacheCommandOptions& o) {
  BERTH_ASSIGN(cache::ImageCache cache, openCommandCache(o));
  BERTH_ASSIGN(std::vector<cache::CachedImage> images, cache.list());
  fmt::print("{:<40} {:<19} {:>8}  {}\n", "REFERENCE", "DIGEST", "SIZE", "LAST USED");
  for (const auto& image : images) {
    fmt::print("{:<40} {:<19} {:>8}  {}\n", image.reference.empty() ? "-" : image.reference,
               image.digest.substr(0, 19), human(image.size), when(image.lastUsed));
  }
  return 0;
}

Result<int> rm(const CacheCommandOptions& o) {
  BERTH_ASSIGN(cache::ImageCache cache, openCommandCache(o));
  BERTH_TRY(cache.remove(o.target));
  fmt::print("removed {}\n", o.target);
  return 0;
}

Result<int> gc(const CacheCommandOptions& o, const Logger& log) {
  std::optional<int64_t> maxSize;
  std::optional<std::chrono::seconds> olderThan;
  if (!o.maxSize.empty()) {
    BERTH_ASSIGN(int64_t size, parseSize(o.maxSize).withContext("--max-size"));
    maxSize = size;
  }
  if (!o.olderThan.empty()) {
    // A bare number is days.
    BERTH_ASSIGN(olderThan,
                 parseDuration(o.olderThan, std::chrono::hours(24)).withContext("--older-than"));
  }
  if (!maxSize && !olderThan)
    return Error("cache gc: give --max-size and/or --older-than");
  BERTH_ASSIGN(cache::ImageCache cache, openCommandCache(o));
  BERTH_ASSIGN(cache::GcResult result, cache.gc(maxSize, olderThan));
  for (const auto& image : result.removedImages)
    fmt::print("removed {} {}\n", image.digest, image.reference);
  // Build cache entries whose layer blob went are misses: removed with it.
  BERTH_ASSIGN(int64_t entries, build::pruneBuildCache(cache.root()));
  log.info("{} images, {} blobs and {} build cache entries removed, {} freed",
           result.removedImages.size(), result.removedBlobs, entries, human(result.bytesFreed));
  return 0;
}

}  // namespace

void addCacheCommand(CLI::App& app, Invocation& invocation) {
  auto o = std::make_shared<CacheCommandOptions>();
  CLI::App* cmd = app.add_subcommand("cache", "List, remove and garbage-collect cached images");
  cmd->add_option("--cache", o->cacheDir, "Image cache directory (default: see `berth pull`)");
  cmd->require_subcommand(1);

  CLI::App* ls = cmd->add_subcommand("list", "Cached images: reference, digest, size, last use");
  ls->callback([&invocation, o] { invocation.action = [o] { return list(*o); }; });

  CLI::App* remove = cmd->add_subcommand("rm", "Remove one image (by reference or digest)");
  remove->add_option("image", o->target, "REFERENCE or sha256:DIGEST (or a unique prefix)")
      ->required();
  remove->callback([&invocation, o] { invocation.action = [o] { return rm(*o); }; });

  CLI::App* collect = cmd->add_subcommand(
      "gc", "Remove least recently used images and blobs beyond a size, or unused for an age");
  collect->add_option("--max-size", o->maxSize, "Keep at most this much (e.g. 50G, 500M)");
  collect->add_option("--older-than", o->olderThan,
                      "Remove what was not used for this long (e.g. 30d, 12h; days by default)");
  collect->callback([&invocation, o] {
    invocation.action = [&invocation, o] { return gc(*o, invocation.log); };
  });
}

}  // namespace berth::cli
