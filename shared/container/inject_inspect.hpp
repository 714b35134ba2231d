// `berth inspect --mpi IMAGE`: the image mounted as a container of the caller (no command runs)
// and its MPI stack described the way the step checks see it (inject.hpp).
#pragma once

#include <string>

#include "shared/config/site_config.hpp"
#include "shared/container/image_source.hpp"
#include "shared/core/result.hpp"

namespace berth::container {

[[nodiscard]] Result<std::string> inspectImageMpi(const config::SiteConfig& site,
                                                  const ImageLocation& image);

}  // namespace berth::container
