// The image cache as the runtime's ImageResolver: `berth run|exec|shell|inspect REF` finds REF
// in the cache, pulling it first when it is not there (like `singularity run docker://...`).
#pragma once

#include "shared/container/image_source.hpp"
#include "shared/core/log.hpp"

namespace berth::cli {

// cache::provideImage with berth.conf's settings, into the cache of cacheRootFor() (site.hpp);
// the registry client also honours the caller's BERTH_INSECURE_REGISTRIES and credentials.
container::ImageResolver cacheImageResolver(const Logger& log);

}  // namespace berth::cli
