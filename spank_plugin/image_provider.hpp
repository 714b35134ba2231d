// The Slurm glue around cache::provideImage (shared/cache/provide.hpp): srun pins the tag as the
// user; slurmstepd provides the image with the user's registry credentials, stops when Slurm
// ends the step, and takes a squashfs path as given. And --container-save's writer
// (container_save.cpp).
#pragma once

#include "shared/config/site_config.hpp"
#include "shared/core/log.hpp"
#include "spank_plugin/container_backend.hpp"

namespace berth::spank {

// Fills backend.pinDigest, backend.isCached, backend.jobPin, backend.rememberJobPin and
// backend.ensureImage.
void addImageProvider(Backend& backend, const config::SiteConfig& site, const Logger& log);

// Writes `image` plus the changes in `layer` (a persistent overlay layer: layer/upper) as a
// squashfs at `output`, owned by `user`.
Status saveContainer(const config::SiteConfig& site, const std::filesystem::path& image,
                     const std::filesystem::path& layer, const std::filesystem::path& output,
                     const UserIdentity& user, const Logger& log);

// Fails unless `user` can create `output` (a file in an existing directory the user may
// write): what saveContainer needs at the end, checked as the user at the start.
Status checkSaveTarget(const std::filesystem::path& output, const UserIdentity& user);

}  // namespace berth::spank
