#include "image_tool/image_resolver.hpp"

#include <string>

#include "image_tool/site.hpp"
#include "shared/cache/image_cache.hpp"
#include "shared/cache/puller.hpp"
#include "shared/config/site_mapping.hpp"

namespace berth::cli {

container::ImageResolver cacheImageResolver(const Logger& log) {
  return [&log](std::string_view reference) -> Result<std::filesystem::path> {
    // The cache, registries and conversion settings `berth pull` uses: berth.conf's.
    BERTH_ASSIGN(config::SiteConfig site, loadSite());
    BERTH_ASSIGN(cache::ImageCache cache, openCache(site, ""));
    cache::PullOptions options;
    options.registry = config::registryOptionsFor(site);
    options.convert = config::convertOptionsFor(site);
    return cache::findOrPull(reference, cache, options, log);
  };
}

}  // namespace berth::cli
