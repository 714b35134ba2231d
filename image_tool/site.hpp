// The site's settings as the berth tool sees them: berth.conf ($BERTH_CONFIG, else
// /etc/berth/berth.conf), and the image cache the tool uses.
#pragma once

#include <filesystem>
#include <string_view>

#include "shared/cache/image_cache.hpp"
#include "shared/config/site_config.hpp"

namespace berth::cli {

// The site configuration in effect (a missing /etc/berth/berth.conf means the defaults).
Result<config::SiteConfig> loadSite();

// The cache the tool reads and writes: `flag` (--cache) when given, else $BERTH_CACHE_DIR,
// else the site's image_cache for root (the site cache is written only by berth as root),
// else the user's own cache ($XDG_CACHE_HOME/berth or ~/.cache/berth).
std::filesystem::path cacheRootFor(const config::SiteConfig& site, std::string_view flag);

// That cache, opened (as root: refused when anyone but root or berth.conf's cache_owner could
// change it).
Result<cache::ImageCache> openCache(const config::SiteConfig& site, std::string_view flag);

}  // namespace berth::cli
