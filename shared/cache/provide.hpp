// Provide an image: the one way every face (srun/slurmstepd, `berth run|exec|shell|inspect`)
// gets the squashfs of the image it runs. Find it in the cache, pin a tag to a digest, pull it
// once under the lock (one node pulls, the others wait for it) — all with the site's settings
// (berth.conf: registry mirrors, insecure registries, conversion, cache owner, pull timeout).
//
// The faces add only their glue: which identity's credentials the pull uses, what cancels it,
// how a pull is announced.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "shared/config/site_config.hpp"
#include "shared/core/cancel.hpp"
#include "shared/core/log.hpp"
#include "shared/core/result.hpp"
#include "shared/registry/credentials.hpp"

namespace berth::cache {

struct ImageWanted {
  // A registry reference, a name the cache knows (an image built or imported by berth), or
  // another pull source (oci:, oci-archive:, docker-archive:).
  std::string image;
  // The digest `image` was pinned to (srun pins once, so every node runs the same image even
  // when the tag moves meanwhile).
  std::optional<std::string> pinnedDigest;
  // The only environment the registry client sees when a pull from `registry` starts
  // (credentials, BERTH_INSECURE_REGISTRIES); asked only then. Empty: the process's own.
  std::function<Result<registry::EnvLookup>(std::string_view registry)> registryEnv;
  // Whether the work is no longer wanted (slurmstepd: an RPC asking whether Slurm ended the
  // step): asked about once a second, on a thread of its own, while another pull is waited for
  // or the image is pulled; true stops both (an error isCancellation() recognises).
  std::function<bool()> abandoned;
  // Told before a pull starts (the normalised reference); the face says it to its user.
  std::function<void(std::string_view reference)> pulling;
};

// The squashfs of `wanted` in the cache at `cacheRoot`, pulled into it first when missing. A
// pinned digest already there costs one stat (no index read, no clean-up): every step start
// on every node asks. As root, a cache that anyone but root or the site's cache_owner could
// change is refused.
[[nodiscard]] Result<std::filesystem::path> provideImage(const config::SiteConfig& site,
                                                         const std::filesystem::path& cacheRoot,
                                                         const ImageWanted& wanted,
                                                         const Logger& log);

// The digest `image` (a registry reference with a tag) points at now; nothing for a reference
// that already carries one. The registry is asked once, without retries (an interactive
// command waits for it); names it does not know are looked up in the cache at `cacheRoot`.
// `registryEnv` as in ImageWanted.
[[nodiscard]] Result<std::optional<std::string>> pinImage(const config::SiteConfig& site,
                                                          const std::filesystem::path& cacheRoot,
                                                          std::string_view image,
                                                          const registry::EnvLookup& registryEnv,
                                                          const Logger& log);

// Whether the image of `digest` is in the cache at `cacheRoot` (one stat); nothing when that
// cannot be told.
std::optional<bool> isProvided(const std::filesystem::path& cacheRoot, std::string_view digest);

}  // namespace berth::cache
