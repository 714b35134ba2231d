#include "shared/cache/puller.hpp"

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "shared/convert/local_source.hpp"
#include "shared/core/atomic_file.hpp"
#include "shared/image/digest.hpp"
#include "shared/image/metadata.hpp"
#include "shared/image/reference.hpp"

namespace berth::cache {
namespace {

namespace fs = std::filesystem;

std::string nowRfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

image::ImageSource imageSource(const std::string& reference, const std::string& digest,
                               const std::string& platform) {
  image::ImageSource source;
  source.reference = reference;
  source.digest = digest;
  source.platform = platform;
  source.created = nowRfc3339();
  source.tool = fmt::format("berth {}", BERTH_VERSION);
  return source;
}

std::string sourceJson(const std::string& reference, const std::string& digest,
                       const std::string& platform) {
  return image::serializeImageSource(imageSource(reference, digest, platform));
}

// A registry image's source.json also keeps the manifest as served: `berth push` re-creates
// the image from it byte for byte.
std::string sourceJson(const std::string& reference, const registry::ResolvedImage& resolved) {
  image::ImageSource source = imageSource(reference, resolved.manifestDigest, resolved.platform);
  source.manifest = resolved.manifest;
  source.manifestMediaType = resolved.manifestMediaType;
  return image::serializeImageSource(source);
}

// Layer downloads running while earlier (upper) layers are converted: layers are converted
// top-down, so the top layer is fetched first. Each blob is fetched on its own so the
// converter learns the moment one is verified and in place.
class BackgroundDownloads {
 public:
  BackgroundDownloads(registry::RegistryClient& client, image::ImageReference ref,
                      std::vector<image::Descriptor> topFirst, fs::path dir,
                      registry::ProgressFn progress, int threads)
      : client_(client),
        ref_(std::move(ref)),
        blobs_(std::move(topFirst)),
        dir_(std::move(dir)),
        progress_(std::move(progress)) {
    size_t n = std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), blobs_.size());
    for (size_t i = 0; i < n; ++i)
      workers_.emplace_back([this] { work(); });
  }
  BackgroundDownloads(const BackgroundDownloads&) = delete;
  BackgroundDownloads& operator=(const BackgroundDownloads&) = delete;
  ~BackgroundDownloads() {
    stop_ = true;  // downloads in flight finish (or stop, when cancelled); no new ones start
    for (std::thread& t : workers_)
      t.join();
  }

  // Blocks until `digest` is downloaded and verified; its error otherwise.
  Status waitFor(const std::string& digest) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return results_.count(digest) > 0; });
    return results_.at(digest);
  }

 private:
  void work() {
    for (size_t i = next_++; i < blobs_.size(); i = next_++) {
      Status status = stop_ ? Status(Error("download cancelled"))
                            : client_.fetchBlobs(ref_, {blobs_[i]}, dir_, progress_);
      std::lock_guard lock(mutex_);
      results_.emplace(blobs_[i].digest, std::move(status));
      changed_.notify_all();
    }
  }

  registry::RegistryClient& client_;
  image::ImageReference ref_;
  std::vector<image::Descriptor> blobs_;
  fs::path dir_;
  registry::ProgressFn progress_;
  std::atomic<size_t> next_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Status> results_;
  std::vector<std::thread> workers_;  // last: started after everything they use exists
};

void announce(const PullObserver& observer, std::string_view phase) {
  if (observer.phase)
    observer.phase(phase);
}

// Produces the image with `produce` either at options.output or in the cache under `digest`.
Result<PullResult> place(
    ImageCache& cache, const PullOptions& options, const std::string& digest,
    const std::string& reference,
    const std::function<Result<convert::ConvertStats>(const fs::path&)>& produce) {
  PullResult result;
  result.digest = digest;
  result.reference = reference;
  if (options.output) {
    BERTH_ASSIGN(convert::ConvertStats stats, produce(*options.output));
    result.stats = stats;
    result.path = *options.output;
    return result;
  }
  BERTH_ASSIGN(std::optional<CachedImage> cached, cache.find(digest));
  if (cached) {
    BERTH_TRY(cache.recordReference(reference, digest));
    result.path = cached->path;
    result.reused = true;
    return result;
  }
  bool produced = false;
  BERTH_ASSIGN(CachedImage image,
               cache.ensure(digest, reference, [&](const fs::path& out) -> Status {
                 BERTH_ASSIGN(convert::ConvertStats stats, produce(out));
                 result.stats = stats;
                 produced = true;
                 return okStatus();
               }));
  result.path = image.path;
  result.reused = !produced;
  return result;
}

Result<PullResult> pullRegistry(std::string_view text, ImageCache& cache,
                                const PullOptions& options, const PullObserver& observer,
                                const Logger& log) {
  BERTH_ASSIGN(image::ImageReference ref, image::parseImageReference(text));
  std::string where = fmt::format("pull `{}`", ref.toString());
  BERTH_ASSIGN(registry::RegistryClient client,
               registry::RegistryClient::create(options.registry, log).withContext(where));
  BERTH_ASSIGN(registry::ResolvedImage resolved,
               client.resolve(ref, options.platform).withContext(where));
  if (observer.resolved)
    observer.resolved(resolved);
  std::string reference = ref.toString();
  auto produce = [&](const fs::path& out) -> Result<convert::ConvertStats> {
    std::string config = resolved.configJson;  // read by resolve() for single-platform images
    if (config.empty()) {
      BERTH_ASSIGN(config, client.fetchBlobToString(resolved.reference, resolved.config));
    }
    // Before any layer is downloaded: 10,000 layers are refused, not fetched.
    BERTH_TRY(convert::checkLayerCount(resolved.layers.size(), options.convert.limits));
    std::vector<image::Descriptor> topFirst(resolved.layers.rbegin(), resolved.layers.rend());
    BackgroundDownloads downloads(client, resolved.reference, std::move(topFirst), cache.blobDir(),
                                  observer.download, options.registry.parallelDownloads);
    std::vector<convert::LayerBlob> layers;
    for (const image::Descriptor& d : resolved.layers) {
      layers.push_back({cache.blobDir() / registry::blobFileName(d.digest), d.mediaType, d.digest,
                        [&downloads, &options, digest = d.digest]() -> Status {
                          BERTH_TRY(downloads.waitFor(digest));
                          // Downloaded already, but the pull was cancelled: convert no further.
                          if (isCancelled(options.registry.cancelled))
                            return cancelledError(fmt::format("convert layer {}", digest));
                          return okStatus();
                        }});
      layers.back().size = d.size;
      layers.back().blobVerified = true;  // by the download (or its re-check of a kept blob)
    }
    announce(observer, "converting");
    return convert::convertLayers(layers, {config, sourceJson(reference, resolved)}, out,
                                  options.convert, log);
  };
  return place(cache, options, resolved.manifestDigest, reference, produce).withContext(where);
}

Result<PullResult> pullLocalLayers(convert::LocalImage image, ImageCache& cache,
                                   const PullOptions& options, const PullObserver& observer,
                                   const Logger& log) {
  std::string where = fmt::format("import `{}`", image.reference);
  auto produce = [&](const fs::path& out) -> Result<convert::ConvertStats> {
    announce(observer, "converting");
    return convert::convertLayers(
        image.layers, {image.configJson, sourceJson(image.reference, image.digest, image.platform)},
        out, options.convert, log);
  };
  return place(cache, options, image.digest, image.reference, produce).withContext(where);
}

// Directory and squashfs sources have no digest before the image exists: the image is made in
// a scratch directory of the cache (same filesystem), hashed, then renamed into place.
Result<PullResult> pullByContent(const convert::SourceSpec& spec, ImageCache& cache,
                                 const PullOptions& options, const PullObserver& observer,
                                 const Logger& log) {
  std::string reference = spec.location.string();
  std::string where = fmt::format("import `{}`", reference);
  bool squashfs = spec.kind == convert::SourceKind::kSquashfs;
  if (squashfs)
    BERTH_TRY(convert::checkSquashfs(spec.location).withContext(where));
  auto make = [&](const fs::path& out) -> Result<convert::ConvertStats> {
    if (!squashfs) {
      announce(observer, "converting");
      return convert::convertDirectory(spec.location, {"", sourceJson(reference, "", "")}, out,
                                       options.convert, log);
    }
    BERTH_ASSIGN(AtomicFile file, AtomicFile::create(out));
    std::error_code ec;
    fs::copy_file(spec.location, file.tempPath(), fs::copy_options::overwrite_existing, ec);
    if (ec)
      return Error(fmt::format("copy to `{}`: {}", file.tempPath().string(), ec.message()));
    BERTH_TRY(file.commit());
    return convert::ConvertStats{};
  };
  fs::path scratchParent = options.output ? options.output->parent_path() : cache.root();
  if (scratchParent.empty())
    scratchParent = ".";
  BERTH_ASSIGN(TempDir scratch, TempDir::create(scratchParent, ".import.tmp-").withContext(where));
  fs::path staged = scratch.path() / "image.sqsh";
  BERTH_ASSIGN(convert::ConvertStats stats, make(staged).withContext(where));
  BERTH_ASSIGN(std::string digest, image::sha256File(staged.string()).withContext(where));
  PullOptions placed = options;
  auto move = [&](const fs::path& out) -> Result<convert::ConvertStats> {
    if (::rename(staged.c_str(), out.c_str()) != 0)
      return errnoError(fmt::format("rename `{}` to `{}`", staged.string(), out.string()));
    return stats;
  };
  return place(cache, placed, digest, reference, move).withContext(where);
}

}  // namespace

Result<PullResult> pullImage(std::string_view source, ImageCache& cache, const PullOptions& options,
                             const PullObserver& observer, const Logger& log) {
  BERTH_ASSIGN(convert::SourceSpec spec, convert::parseSource(source));
  switch (spec.kind) {
    case convert::SourceKind::kRegistry:
      return pullRegistry(spec.text, cache, options, observer, log);
    case convert::SourceKind::kOciLayout: {
      BERTH_ASSIGN(convert::LocalImage image, convert::loadOciLayout(spec.location, spec.tag));
      return pullLocalLayers(std::move(image), cache, options, observer, log);
    }
    case convert::SourceKind::kOciArchive: {
      BERTH_ASSIGN(convert::LocalImage image,
                   convert::loadOciArchive(spec.location, spec.tag, cache.root()));
      return pullLocalLayers(std::move(image), cache, options, observer, log);
    }
    case convert::SourceKind::kDockerArchive: {
      BERTH_ASSIGN(convert::LocalImage image,
                   convert::loadDockerArchive(spec.location, cache.root()));
      return pullLocalLayers(std::move(image), cache, options, observer, log);
    }
    case convert::SourceKind::kDirectory:
    case convert::SourceKind::kSquashfs:
      return pullByContent(spec, cache, options, observer, log);
  }
  return Error(fmt::format("image source `{}`: unknown kind", source));
}

}  // namespace berth::cache
