#include "spank_plugin/image_provider.hpp"

#include <unistd.h>

#include <chrono>

#include <fmt/format.h>

#include "shared/cache/image_cache.hpp"
#include "shared/cache/puller.hpp"
#include "shared/config/site_mapping.hpp"
#include "shared/core/cancel.hpp"
#include "shared/core/file_lock.hpp"
#include "shared/image/reference.hpp"
#include "shared/registry/credentials.hpp"
#include "shared/registry/registry_client.hpp"
#include "shared/sys/identity.hpp"
#include "spank_plugin/option_checks.hpp"

namespace berth::spank {
namespace {

// How often a step that waits for its image (its own pull or another node's) asks Slurm
// whether it was cancelled meanwhile: the delay before a cancelled step lets its nodes go.
constexpr std::chrono::seconds kStepPollInterval(1);

// How stale an image's "last used" time in the site cache may get (for `berth cache gc`): a
// step start updates it (index lock, write, fsync) at most this often per node.
constexpr std::chrono::seconds kTouchInterval(600);

// The user's credentials for `registry`, looked up with the user's file-system identity (their
// `berth login` file and Docker config, found through the job's HOME/XDG_CONFIG_HOME/
// DOCKER_CONFIG, or the job's BERTH_REGISTRY_* variables), handed to the registry client as
// the only variables it sees: root's own files and environment never serve a user's pull.
Result<registry::EnvLookup> userCredentials(const ImageRequest& request,
                                            std::string_view registry) {
  BERTH_ASSIGN(sys::Identity user, sys::lookupIdentity(static_cast<uid_t>(request.user.uid)));
  user.gid = static_cast<gid_t>(request.user.gid);
  registry::EnvLookup jobEnv = [&](std::string_view name) -> std::optional<std::string> {
    if (!request.userEnvironment)
      return std::nullopt;
    return request.userEnvironment(name);
  };
  std::optional<registry::Credentials> found;
  {
    BERTH_ASSIGN(auto scope, sys::FsIdentityScope::assume(user));
    registry::CredentialStore store(jobEnv, registry::defaultUserConfigDir(jobEnv),
                                    registry::defaultDockerConfigPath(jobEnv));
    BERTH_ASSIGN(found, store.lookup(registry));
  }
  std::string suffix = registry::credentialEnvSuffix(registry);
  // The user's plain-HTTP registries are honoured only for a pull by digest: whatever the
  // transport, content that does not hash to the pinned digest is refused.
  std::optional<std::string> insecure;
  if (request.pinnedDigest)
    insecure = jobEnv("BERTH_INSECURE_REGISTRIES");
  return registry::EnvLookup(
      [found, suffix, insecure](std::string_view name) -> std::optional<std::string> {
        if (name == "BERTH_INSECURE_REGISTRIES")
          return insecure;
        if (!found)
          return std::nullopt;
        if (name == "BERTH_REGISTRY_USER_" + suffix)
          return found->username;
        if (name == "BERTH_REGISTRY_PASSWORD_" + suffix)
          return found->password;
        return std::nullopt;
      });
}

// The image of `request` in `cache`, pulled unless another node of the step pulls it (then its
// pull is waited for); `cancelled` stops both.
Result<std::filesystem::path> waitOrPull(const config::SiteConfig& site, const Logger& log,
                                         const ImageRequest& request, cache::ImageCache& cache,
                                         const CancelCheck& cancelled) {
  std::optional<FileLock> pullLock;
  if (request.pinnedDigest) {
    BERTH_ASSIGN(auto cached, cache.find(*request.pinnedDigest));
    if (cached) {
      (void)cache.touch(cached->digest);
      return cached->path;
    }
    // One node of the step pulls; the others wait here and then find the image, without
    // asking the registry anything (the cache's own digest lock is taken only after the
    // pull has resolved the reference).
    BERTH_ASSIGN(std::string stem, cache::digestFileStem(*request.pinnedDigest));
    BERTH_ASSIGN(pullLock, FileLock::acquire(cache.root() / "locks" / (stem + ".pull"),
                                             LockMode::kExclusive, site.pullTimeout, cancelled)
                               .withContext("wait for another node's pull"));
    BERTH_ASSIGN(cached, cache.find(*request.pinnedDigest));
    if (cached) {
      (void)cache.touch(cached->digest);
      return cached->path;
    }
  } else {
    // A cached name (an image built or imported by berth) or a reference pulled before.
    auto cached = cache.find(request.image);
    if (cached.ok() && *cached) {
      (void)cache.touch((*cached)->digest);
      return (*cached)->path;
    }
  }
  BERTH_ASSIGN(image::ImageReference reference, image::parseImageReference(request.image));
  if (request.pinnedDigest)
    reference.digest = *request.pinnedDigest;
  cache::PullOptions options;
  options.registry = config::registryOptionsFor(site);
  BERTH_ASSIGN(options.registry.env, userCredentials(request, reference.registry));
  options.convert = config::convertOptionsFor(site);
  options.registry.cancelled = cancelled;
  log.info("berth: pulling {} into {}", reference.toString(), site.imageCache.string());
  BERTH_ASSIGN(cache::PullResult pulled,
               cache::pullImage(reference.toString(), cache, options, {}, log));
  if (!request.pinnedDigest || reference.toString() != request.image)
    (void)cache.recordReference(request.image, pulled.digest);
  return pulled.path;
}

Result<std::filesystem::path> ensureImage(const config::SiteConfig& site, const Logger& log,
                                          const ImageRequest& request) {
  if (isImagePath(request.image)) {
    if (!site.allowUserImages)
      return Error("squashfs files named by path are not allowed on this site");
    // Opened with the user's identity when the container is built.
    return std::filesystem::path(request.image);
  }
  BERTH_ASSIGN(sys::TrustedOwners cacheOwners, config::cacheOwnersFor(site));
  // The digest srun pinned: every node runs the same image even if the tag moved since.
  if (request.pinnedDigest) {
    // Every step after the first: the image is there. One stat and (at most every
    // kTouchInterval) an index update; no clean-up or scan of the cache on each step start.
    cache::ImageCache cache = cache::ImageCache::attach(site.imageCache, cacheOwners);
    BERTH_ASSIGN(std::optional<std::filesystem::path> present,
                 cache.findImageFile(*request.pinnedDigest));
    if (present) {
      (void)cache.touchIfOlder(*request.pinnedDigest, kTouchInterval);
      return *present;
    }
  }
  BERTH_ASSIGN(cache::ImageCache cache, cache::ImageCache::open(site.imageCache, cacheOwners));
  // From here the step may wait for minutes (another node's pull, or its own): a step that
  // Slurm cancels meanwhile stops waiting and pulling, and lets its nodes go.
  std::optional<CancelWatch> watch;
  if (request.stepEnded)
    watch.emplace(request.stepEnded, kStepPollInterval);
  Result<std::filesystem::path> image =
      waitOrPull(site, log, request, cache, watch ? watch->check() : CancelCheck());
  if (!image.ok() && isCancellation(image.error()))
    return Error(
        "the step ended (cancelled or out of time) while its image was pulled: pull abandoned",
        ECANCELED);
  return image;
}

}  // namespace

void addImageProvider(Backend& backend, const config::SiteConfig& site, const Logger& log) {
  // srun, as the user: the registry is asked with the user's own environment and files.
  backend.pinDigest = [site, log](std::string_view image) -> Result<std::optional<std::string>> {
    if (isImagePath(image))
      return std::optional<std::string>();
    BERTH_ASSIGN(image::ImageReference reference, image::parseImageReference(image));
    if (!reference.digest.empty())
      return std::optional<std::string>(reference.digest);
    registry::RegistryOptions options = config::registryOptionsFor(site);
    options.retries = 1;  // srun is interactive: fail fast
    options.backoffBaseMs = 200;
    BERTH_ASSIGN(registry::RegistryClient client, registry::RegistryClient::create(options, log));
    // The digest only: the config blob (the platform of a single-platform image) is read and
    // checked on the nodes, which are the ones that run it.
    Result<registry::ResolvedImage> resolved = client.resolve(reference, "", false);
    if (resolved.ok())
      return std::optional<std::string>(resolved->manifestDigest);
    // Images berth built or imported, and images of registries out of reach: the cache's.
    if (auto cache = cache::ImageCache::open(site.imageCache); cache.ok()) {
      if (auto cached = cache->find(image); cached.ok() && *cached)
        return std::optional<std::string>((*cached)->digest);
    }
    return std::move(resolved).error();
  };
  backend.isCached = [site](std::string_view, const std::optional<std::string>& digest) {
    if (!digest)
      return true;  // nothing to say
    auto present = cache::ImageCache::attach(site.imageCache).findImageFile(*digest);
    return !present.ok() || present->has_value();  // an error: nothing to say either
  };
  backend.ensureImage = [site, log](const ImageRequest& request) {
    return ensureImage(site, log, request);
  };
}

}  // namespace berth::spank
