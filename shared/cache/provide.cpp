#include "shared/cache/provide.hpp"

#include <chrono>

#include "shared/cache/image_cache.hpp"
#include "shared/cache/puller.hpp"
#include "shared/config/site_mapping.hpp"
#include "shared/convert/local_source.hpp"
#include "shared/core/file_lock.hpp"
#include "shared/image/reference.hpp"
#include "shared/registry/registry_client.hpp"

namespace berth::cache {
namespace {

// How stale an image's "last used" time may get (for `berth cache gc`) when it is found by a
// pinned digest: a Slurm step start updates it (index lock, write, fsync) at most this often
// per node.
constexpr std::chrono::seconds kTouchInterval(600);

// How often ImageWanted::abandoned is asked: the delay before an abandoned pull (a cancelled
// Slurm step) stops and lets its nodes go.
constexpr std::chrono::seconds kAbandonedPollInterval(1);

// Marks `image` used; only gc's least-recently-used order suffers when that fails.
void markUsed(ImageCache& cache, const CachedImage& image, const Logger& log) {
  if (Status touched = cache.touch(image.digest); !touched.ok())
    log.verbose("image cache: {}", touched.error().message());
}

// What a pull of `wanted` fetches: the pinned digest of a registry reference, else the image
// as given.
Result<std::string> pullSource(const ImageWanted& wanted) {
  if (!wanted.pinnedDigest)
    return wanted.image;
  BERTH_ASSIGN(image::ImageReference reference, image::parseImageReference(wanted.image));
  reference.digest = *wanted.pinnedDigest;
  return reference.toStringWithUser();  // USER@ still picks whose credentials
}

// The reference of a registry source; nothing for other sources.
std::optional<image::ImageReference> registryReference(const std::string& source) {
  auto spec = convert::parseSource(source);
  if (!spec.ok() || spec->kind != convert::SourceKind::kRegistry)
    return std::nullopt;
  auto reference = image::parseImageReference(spec->text);
  if (!reference.ok())
    return std::nullopt;
  return std::move(reference).value();
}

std::optional<std::string> registryOf(const std::string& source) {
  auto reference = registryReference(source);
  return reference ? std::optional<std::string>(reference->registry) : std::nullopt;
}

// How a pull is announced: a registry reference in its normalised form.
std::string announced(const std::string& source) {
  auto reference = registryReference(source);
  return reference ? reference->toString() : source;
}

Result<std::filesystem::path> findOrPull(const config::SiteConfig& site, ImageCache& cache,
                                         const ImageWanted& wanted, const CancelCheck& cancelled,
                                         const Logger& log) {
  // A pinned digest: one node of the step pulls, the others wait here and then find the image
  // without asking the registry anything (the cache's own digest lock is taken only after the
  // pull has resolved the reference).
  std::optional<FileLock> pullLock;
  std::string_view lookup = wanted.pinnedDigest ? *wanted.pinnedDigest : wanted.image;
  BERTH_ASSIGN(std::optional<CachedImage> cached, cache.find(lookup));
  if (!cached && wanted.pinnedDigest) {
    BERTH_ASSIGN(std::string stem, digestFileStem(*wanted.pinnedDigest));
    BERTH_ASSIGN(pullLock, FileLock::acquire(cache.root() / "locks" / (stem + ".pull"),
                                             LockMode::kExclusive, site.pullTimeout, cancelled)
                               .withContext("wait for another node's pull"));
    BERTH_ASSIGN(cached, cache.find(lookup));
  }
  if (cached) {
    markUsed(cache, *cached, log);
    return cached->path;
  }
  BERTH_ASSIGN(std::string source, pullSource(wanted));
  PullOptions options;
  options.registry = config::registryOptionsFor(site);
  if (wanted.registryEnv) {
    if (auto registry = registryOf(source)) {
      BERTH_ASSIGN(options.registry.env, wanted.registryEnv(*registry));
    }
  }
  options.registry.cancelled = cancelled;
  options.convert = config::convertOptionsFor(site);
  if (wanted.pulling)
    wanted.pulling(announced(source));
  BERTH_ASSIGN(PullResult pulled, pullImage(source, cache, options, PullObserver{}, log));
  // The tag srun pinned names the image too (the cache answers it when the registry is out
  // of reach).
  if (wanted.pinnedDigest) {
    auto named = cache.find(wanted.image);
    if (named.ok() && !*named)
      (void)cache.recordReference(wanted.image, pulled.digest);
  }
  return pulled.path;
}

}  // namespace

Result<std::filesystem::path> provideImage(const config::SiteConfig& site,
                                           const std::filesystem::path& cacheRoot,
                                           const ImageWanted& wanted, const Logger& log) {
  BERTH_ASSIGN(sys::TrustedOwners owners, config::cacheOwnersFor(site));
  if (wanted.pinnedDigest) {
    // Every step after the first: the image is there. One stat and (at most every
    // kTouchInterval) an index update; no clean-up or scan of the cache.
    ImageCache cache = ImageCache::attach(cacheRoot, owners);
    BERTH_ASSIGN(std::optional<std::filesystem::path> present,
                 cache.findImageFile(*wanted.pinnedDigest));
    if (present) {
      (void)cache.touchIfOlder(*wanted.pinnedDigest, kTouchInterval);
      return *present;
    }
  }
  BERTH_ASSIGN(ImageCache cache, ImageCache::open(cacheRoot, owners));
  // From here the caller may wait for minutes (another node's pull, or its own).
  std::optional<CancelWatch> watch;
  if (wanted.abandoned)
    watch.emplace(wanted.abandoned, kAbandonedPollInterval);
  return findOrPull(site, cache, wanted, watch ? watch->check() : CancelCheck(), log);
}

Result<std::optional<std::string>> pinImage(const config::SiteConfig& site,
                                            const std::filesystem::path& cacheRoot,
                                            std::string_view image,
                                            const registry::EnvLookup& registryEnv,
                                            const Logger& log) {
  BERTH_ASSIGN(image::ImageReference reference, image::parseImageReference(image));
  if (!reference.digest.empty())
    return std::optional<std::string>(reference.digest);
  registry::RegistryOptions options = config::registryOptionsFor(site);
  options.env = registryEnv;
  options.retries = 1;  // an interactive command waits: fail fast
  options.backoffBaseMs = 200;
  BERTH_ASSIGN(registry::RegistryClient client, registry::RegistryClient::create(options, log));
  // The digest only: the config blob (the platform of a single-platform image) is read and
  // checked where the image runs.
  Result<registry::ResolvedImage> resolved = client.resolve(reference, "", false);
  if (resolved.ok())
    return std::optional<std::string>(resolved->manifestDigest);
  // Images berth built or imported, and images of registries out of reach: the cache's.
  if (auto cache = ImageCache::open(cacheRoot); cache.ok()) {
    if (auto cached = cache->find(image); cached.ok() && *cached)
      return std::optional<std::string>((*cached)->digest);
  }
  return std::move(resolved).error();
}

std::optional<bool> isProvided(const std::filesystem::path& cacheRoot, std::string_view digest) {
  auto present = ImageCache::attach(cacheRoot).findImageFile(digest);
  if (!present.ok())
    return std::nullopt;
  return present->has_value();
}

}  // namespace berth::cache
