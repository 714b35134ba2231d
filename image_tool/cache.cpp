// `berth cache list|rm|gc`: look after the image cache (ImageCache).
#include <ctime>
#include <memory>

#include <fmt/format.h>

#include "image_tool/command.hpp"
#include "image_tool/site.hpp"
#include "shared/cache/image_cache.hpp"

namespace berth::cli {
namespace {

struct CacheCommandOptions {
  std::string cacheDir;
  std::string target;     // rm
  std::string maxSize;    // gc
  std::string olderThan;  // gc
};

struct Unit {
  char suffix;
  int64_t factor;
};

// Size suffixes (binary, as du and Slurm use them).
constexpr Unit kSizeUnits[] = {
    {'K', 1LL << 10}, {'M', 1LL << 20}, {'G', 1LL << 30}, {'T', 1LL << 40}};
// Age suffixes.
constexpr Unit kAgeUnits[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 604800}};

template <size_t N>
Result<int64_t> parseWithUnit(std::string_view text, const Unit (&units)[N], std::string_view what,
                              int64_t defaultFactor) {
  std::string s(text);
  if (s.empty())
    return Error(fmt::format("empty {}", what));
  int64_t factor = defaultFactor;
  char last = s.back();
  if (last == 'B' || last == 'b')
    s.pop_back(), last = s.empty() ? '\0' : s.back();
  for (const auto& u : units) {
    if (last == u.suffix || (what == "size" && last == std::tolower(u.suffix))) {
      factor = u.factor;
      s.pop_back();
      break;
    }
  }
  char* end = nullptr;
  double value = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || value < 0)
    return Error(fmt::format("invalid {} `{}`", what, text));
  return static_cast<int64_t>(value * static_cast<double>(factor));
}

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
    BERTH_ASSIGN(int64_t size, parseWithUnit(o.maxSize, kSizeUnits, "size", 1));
    maxSize = size;
  }
  if (!o.olderThan.empty()) {
    BERTH_ASSIGN(int64_t secs, parseWithUnit(o.olderThan, kAgeUnits, "age", 86400));
    olderThan = std::chrono::seconds(secs);
  }
  if (!maxSize && !olderThan)
    return Error("cache gc: give --max-size and/or --older-than");
  BERTH_ASSIGN(cache::ImageCache cache, openCommandCache(o));
  BERTH_ASSIGN(cache::GcResult result, cache.gc(maxSize, olderThan));
  for (const auto& image : result.removedImages)
    fmt::print("removed {} {}\n", image.digest, image.reference);
  log.info("{} images and {} blobs removed, {} freed", result.removedImages.size(),
           result.removedBlobs, human(result.bytesFreed));
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
