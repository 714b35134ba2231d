#include "image_tool/site.hpp"

#include <unistd.h>

#include "shared/config/site_mapping.hpp"
#include "shared/core/process_env.hpp"

namespace berth::cli {

Result<config::SiteConfig> loadSite() {
  return config::loadDefaultSiteConfig(processEnv);
}

std::filesystem::path cacheRootFor(const config::SiteConfig& site, std::string_view flag) {
  if (!flag.empty())
    return std::filesystem::path(flag);
  if (auto dir = processEnv("BERTH_CACHE_DIR"); dir && !dir->empty())
    return *dir;
  if (::geteuid() == 0)
    return site.imageCache;
  return cache::ImageCache::defaultRoot();
}

Result<cache::ImageCache> openCache(const config::SiteConfig& site, std::string_view flag) {
  BERTH_ASSIGN(sys::TrustedOwners owners, config::cacheOwnersFor(site));
  return cache::ImageCache::open(cacheRootFor(site, flag), owners);
}

}  // namespace berth::cli
