// The image cache as the runtime's ImageResolver: `berth run|exec|shell|inspect REF` finds REF
// in the cache, pulling it first when it is not there (like `singularity run docker://...`).
#pragma once

#include "shared/container/image_source.hpp"
#include "shared/core/log.hpp"

namespace berth::cli {

// Uses the default cache (ImageCache::defaultRoot()); registries marked insecure through
// BERTH_INSECURE_REGISTRIES are honoured by the registry client.
container::ImageResolver cacheImageResolver(const Logger& log);

}  // namespace berth::cli
