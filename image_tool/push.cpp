// `berth push [--insecure] [--compression gzip|zstd] [--squash] IMAGE docker://REG/REPO[:TAG]`:
// an image (a cache reference, a squashfs file or a sandbox directory) into a registry. A
// pulled image goes back byte for byte (its blobs mounted or uploaded, its own manifest);
// anything else is flattened into one layer. Prints the manifest digest and the reference on
// stdout; progress on stderr (bars on a terminal, one line per blob otherwise).
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "image_tool/command.hpp"
#include "image_tool/site.hpp"
#include "shared/config/site_mapping.hpp"
#include "shared/core/process_env.hpp"
#include "shared/core/units.hpp"
#include "shared/image/reference.hpp"
#include "shared/push/push.hpp"

namespace berth::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Bytes per PATCH request; a tuning and test knob (docs/push.md).
constexpr std::string_view kChunkSizeVar = "BERTH_PUSH_CHUNK_SIZE";

struct PushCommandOptions {
  std::string image;
  std::string target;
  std::string cacheDir;
  std::string compression = "gzip";
  int level = 0;
  bool insecure = false;
  bool squash = false;
};

std::string mib(int64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

std::string shortDigest(const std::string& digest) {
  return digest.substr(0, std::min<size_t>(digest.size(), 7 + 12));
}

// Per-blob upload progress on stderr.
class UploadDisplay {
 public:
  explicit UploadDisplay(bool quiet)
      : tty_(!quiet && ::isatty(STDERR_FILENO) == 1), quiet_(quiet) {}

  void start(const std::vector<image::Descriptor>& blobs) {
    std::lock_guard lock(mutex_);
    for (const auto& blob : blobs) {
      if (blobs_.contains(blob.digest))
        continue;
      order_.push_back(blob.digest);
      blobs_[blob.digest] = Blob{0, blob.size, Clock::now(), false};
    }
    if (tty_)
      draw(true);
  }

  void update(const image::Descriptor& blob, int64_t done, int64_t total) {
    std::lock_guard lock(mutex_);
    auto it = blobs_.find(blob.digest);
    if (it == blobs_.end())
      return;
    Blob& b = it->second;
    b.done = done;
    bool finished = total > 0 && done >= total && !b.finished;
    b.finished = b.finished || finished;
    if (tty_) {
      if (finished || Clock::now() - lastDraw_ > std::chrono::milliseconds(100))
        draw(false);
    } else if (finished && !quiet_) {
      double secs = std::max(1e-3, std::chrono::duration<double>(Clock::now() - b.start).count());
      fmt::print(stderr, "berth: {} {} in {:.1f} s\n", shortDigest(blob.digest), mib(b.total),
                 secs);
    }
  }

  void phase(std::string_view what) {
    if (!quiet_)
      fmt::print(stderr, "berth: {}\n", what);
  }

 private:
  struct Blob {
    int64_t done = 0;
    int64_t total = 0;
    Clock::time_point start;
    bool finished = false;
  };

  void draw(bool first) {
    if (!first)
      fmt::print(stderr, "\033[{}A", order_.size());
    for (const auto& digest : order_) {
      const Blob& b = blobs_[digest];
      int width = 30;
      int filled = b.total > 0 ? static_cast<int>(width * b.done / b.total) : width;
      fmt::print(stderr, "\r\033[K{} [{}{}] {} / {}\n", shortDigest(digest),
                 std::string(filled, '#'), std::string(width - filled, ' '), mib(b.done),
                 mib(b.total));
    }
    lastDraw_ = Clock::now();
  }

  bool tty_;
  bool quiet_;
  std::mutex mutex_;
  std::vector<std::string> order_;
  std::map<std::string, Blob> blobs_;
  Clock::time_point lastDraw_{};
};

Result<int> push(const PushCommandOptions& o, const Invocation& invocation) {
  const Logger& log = invocation.log;
  BERTH_ASSIGN(image::ImageReference target, image::parseImageReference(o.target));
  BERTH_ASSIGN(config::SiteConfig site, loadSite());
  BERTH_ASSIGN(cache::ImageCache cache, openCache(site, o.cacheDir));

  // IMAGE: a squashfs file, a sandbox directory, or an image in the cache (never pulled here).
  container::ImageResolver inCache =
      [&cache](std::string_view reference) -> Result<std::filesystem::path> {
    BERTH_ASSIGN(auto cached, cache.find(reference));
    if (!cached)
      return Error(
          fmt::format("image `{}` is not in the image cache `{}` (pull it first, or give "
                      "a squashfs file or a sandbox directory)",
                      reference, cache.root().string()));
    return cached->path;
  };
  BERTH_ASSIGN(container::ImageLocation image, container::locateImage(o.image, false, inCache));

  push::PushOptions options;
  options.registry = config::registryOptionsFor(site);
  if (o.insecure)
    options.registry.insecureRegistries.push_back(target.registry);
  options.upload.parallel = options.registry.parallelDownloads;
  if (auto chunk = processEnv(kChunkSizeVar); chunk && !chunk->empty()) {
    BERTH_ASSIGN(options.upload.chunkBytes,
                 parseSize(*chunk).withContext(fmt::format("${}", kChunkSizeVar)));
  }
  options.compress.compression =
      o.compression == "zstd" ? image::Compression::kZstd : image::Compression::kGzip;
  options.compress.level = o.level;
  options.squash = o.squash;
  options.convert = config::convertOptionsFor(site);
  options.blobDir = cache.blobDir();
  options.scratchDir = cache.root();
  options.imageName = o.image;

  auto display = std::make_shared<UploadDisplay>(invocation.quiet);
  push::PushObserver observer;
  observer.phase = [display](std::string_view what) { display->phase(what); };
  observer.blobs = [display](const std::vector<image::Descriptor>& blobs) {
    display->start(blobs);
  };
  observer.upload = [display](const image::Descriptor& d, int64_t done, int64_t total) {
    display->update(d, done, total);
  };
  BERTH_ASSIGN(push::PushResult result, push::pushImage(image, target, options, observer, log));
  if (!invocation.quiet)
    fmt::print(stderr, "berth: {} image: {} blobs uploaded ({}), {} mounted, {} already there\n",
               result.exact ? "pulled" : "flattened", result.uploaded, mib(result.bytesUploaded),
               result.mounted, result.present);
  fmt::print("{}\n{}\n", result.digest, result.reference);
  return 0;
}

}  // namespace

void addPushCommand(CLI::App& app, Invocation& invocation) {
  auto o = std::make_shared<PushCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "push",
      "Push an image (cache reference, squashfs file or sandbox directory) to a registry: a "
      "pulled image unchanged, anything else flattened into one layer");
  cmd->add_option("--cache", o->cacheDir,
                  "Image cache directory: where IMAGE is looked up and pulled blobs are kept "
                  "(default: as for pull)");
  cmd->add_flag("--insecure", o->insecure, "Allow plain HTTP to the target registry");
  cmd->add_option("--compression", o->compression,
                  "Compression of a flattened layer: gzip (default) or zstd")
      ->check(CLI::IsMember({"gzip", "zstd"}));
  cmd->add_option("--compression-level", o->level,
                  "Level of that compression (gzip 1-9, default 6; zstd 1-19, default 3)")
      ->check(CLI::Range(1, 19));
  cmd->add_flag("--squash", o->squash,
                "Flatten a pulled image into one layer too (instead of pushing its own layers)");
  cmd->add_option("image", o->image, "REF (an image in the cache), FILE.sqsh, or a sandbox DIR")
      ->required();
  cmd->add_option("target", o->target, "docker://REGISTRY/REPO[:TAG] (default tag: latest)")
      ->required();
  cmd->callback(
      [&invocation, o] { invocation.action = [&invocation, o] { return push(*o, invocation); }; });
}

}  // namespace berth::cli
