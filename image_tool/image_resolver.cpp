#include "image_tool/image_resolver.hpp"

#include <string>

#include "shared/image/image_cache.hpp"
#include "shared/image/puller.hpp"

namespace berth::cli {

container::ImageResolver cacheImageResolver(const Logger& log) {
  return [&log](std::string_view reference) -> Result<std::filesystem::path> {
    BERTH_ASSIGN(image::ImageCache cache,
                 image::ImageCache::open(image::ImageCache::defaultRoot()));
    return image::findOrPull(reference, cache, image::PullOptions{}, log);
  };
}

}  // namespace berth::cli
