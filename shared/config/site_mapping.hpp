// What each part of berth takes from the site's settings: one mapping, used by the SPANK plugin
// and by the `berth` tool alike, so that berth.conf means the same thing to both.
#pragma once

#include "shared/config/site_config.hpp"
#include "shared/container/options.hpp"
#include "shared/convert/converter.hpp"
#include "shared/registry/registry_client.hpp"
#include "shared/sys/trusted_path.hpp"

namespace berth::config {

// The container runtime's settings (default mounts parsed; bad ones are errors naming the key).
Result<container::RuntimeConfig> runtimeConfigFor(const SiteConfig& site);

// Insecure registries and mirrors for the registry client.
registry::RegistryOptions registryOptionsFor(const SiteConfig& site);

// Who may own the site image cache besides root (berth.conf cache_owner, resolved to a uid).
Result<sys::TrustedOwners> cacheOwnersFor(const SiteConfig& site);

// How images are written: zstd level, whether setuid bits survive conversion.
convert::ConvertOptions convertOptionsFor(const SiteConfig& site);

}  // namespace berth::config
