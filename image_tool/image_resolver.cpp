#include "image_tool/image_resolver.hpp"

#include <string>

#include "image_tool/site.hpp"
#include "shared/config/site_mapping.hpp"
#include "shared/image/image_cache.hpp"
#include "shared/image/puller.hpp"

namespace berth::cli {

container::ImageResolver cacheImageResolver(const Logger& log) {
  return [&log](std::string_view reference) -> Result<std::filesystem::path> {
    // The cache, registries and conversion settings `berth pull` uses: berth.conf's.
    BERTH_ASSIGN(config::SiteConfig site, loadSite());
    BERTH_ASSIGN(image::ImageCache cache, openCache(site, ""));
    image::PullOptions options;
    options.registry = config::registryOptionsFor(site);
    options.convert = config::convertOptionsFor(site);
    return image::findOrPull(reference, cache, options, log);
  };
}

}  // namespace berth::cli
