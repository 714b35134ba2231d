#include "image_tool/image_resolver.hpp"

#include "image_tool/site.hpp"
#include "shared/cache/provide.hpp"

namespace berth::cli {

container::ImageResolver cacheImageResolver(const Logger& log) {
  return [&log](std::string_view reference) -> Result<std::filesystem::path> {
    // What srun gets too: the site's cache (as root), registries and conversion settings.
    BERTH_ASSIGN(config::SiteConfig site, loadSite());
    cache::ImageWanted wanted;
    wanted.image = reference;
    return cache::provideImage(site, cacheRootFor(site, ""), wanted, log);
  };
}

}  // namespace berth::cli
