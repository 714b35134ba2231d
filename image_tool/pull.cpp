// `berth pull [--cache DIR] [-o FILE.sqsh] [--platform P] [--insecure] [--zstd-level N] SOURCE`:
// an image from a registry or a local source into the image cache (or FILE). Prints the digest
// and the path on stdout; progress on stderr (bars on a terminal, one line per layer otherwise).
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "image_tool/command.hpp"
#include "image_tool/site.hpp"
#include "shared/cache/image_cache.hpp"
#include "shared/cache/puller.hpp"
#include "shared/config/site_mapping.hpp"
#include "shared/convert/local_source.hpp"
#include "shared/image/reference.hpp"

namespace berth::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct PullCommandOptions {
  std::string source;
  std::string cacheDir;
  std::string output;
  std::string platform;
  bool insecure = false;
  int zstdLevel = 0;  // 0: the site's (berth.conf zstd_level, default 3)
  bool stripSetuid = false;
};

std::string mib(int64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

// Per-layer download progress on stderr.
class ProgressDisplay {
 public:
  explicit ProgressDisplay(bool quiet)
      : tty_(!quiet && ::isatty(STDERR_FILENO) == 1), quiet_(quiet) {}

  void start(const registry::ResolvedImage& image) {
    std::lock_guard lock(mutex_);
    for (const auto& layer : image.layers) {
      order_.push_back(layer.digest);
      layers_[layer.digest] = Layer{0, layer.size, Clock::now(), {}, false};
    }
    if (tty_)
      draw(/*first=*/true);
  }

  void update(const image::Descriptor& blob, int64_t done, int64_t total) {
    std::lock_guard lock(mutex_);
    auto it = layers_.find(blob.digest);
    if (it == layers_.end())
      return;  // the config blob
    Layer& layer = it->second;
    layer.done = done;
    if (total > 0)
      layer.total = total;
    bool finished = total > 0 && done >= total && !layer.finished;
    if (finished) {
      layer.finished = true;
      layer.end = Clock::now();
    }
    if (tty_) {
      if (finished || Clock::now() - lastDraw_ > std::chrono::milliseconds(100))
        draw(false);
    } else if (finished && !quiet_) {
      double secs = seconds(layer);
      fmt::print(stderr, "berth: {} {} in {:.1f} s ({}/s)\n", shortDigest(blob.digest),
                 mib(layer.total), secs, mib(static_cast<int64_t>(layer.total / secs)));
    }
  }

  void phase(std::string_view what) {
    if (!quiet_)
      fmt::print(stderr, "berth: {}\n", what);
  }

 private:
  struct Layer {
    int64_t done = 0;
    int64_t total = 0;
    Clock::time_point start;
    Clock::time_point end;  // set when finished: the rate stops there
    bool finished = false;
  };

  static std::string shortDigest(const std::string& digest) {
    return digest.substr(0, std::min<size_t>(digest.size(), 7 + 12));
  }
  static double seconds(const Layer& layer) {
    auto end = layer.finished ? layer.end : Clock::now();
    return std::max(1e-3, std::chrono::duration<double>(end - layer.start).count());
  }

  void draw(bool first) {
    if (!first)
      fmt::print(stderr, "\033[{}A", order_.size());
    for (const auto& digest : order_) {
      const Layer& l = layers_[digest];
      int width = 30;
      int filled = l.total > 0 ? static_cast<int>(width * l.done / l.total) : 0;
      fmt::print(stderr, "\r\033[K{} [{}{}] {} / {}  {}/s\n", shortDigest(digest),
                 std::string(filled, '#'), std::string(width - filled, ' '), mib(l.done),
                 mib(l.total), mib(static_cast<int64_t>(l.done / seconds(l))));
    }
    lastDraw_ = Clock::now();
  }

  bool tty_;
  bool quiet_;
  std::mutex mutex_;
  std::vector<std::string> order_;
  std::map<std::string, Layer> layers_;
  Clock::time_point lastDraw_{};
};

Result<int> pull(const PullCommandOptions& o, const Invocation& invocation) {
  const Logger& log = invocation.log;
  BERTH_ASSIGN(config::SiteConfig site, loadSite());
  cache::PullOptions options;
  options.platform = o.platform;
  options.registry = config::registryOptionsFor(site);
  options.convert = config::convertOptionsFor(site);
  if (o.zstdLevel != 0)
    options.convert.zstdLevel = o.zstdLevel;
  options.convert.stripSetuid = options.convert.stripSetuid || o.stripSetuid;
  if (!o.output.empty())
    options.output = std::filesystem::absolute(o.output);
  if (o.insecure) {
    BERTH_ASSIGN(convert::SourceSpec spec, convert::parseSource(o.source));
    if (spec.kind == convert::SourceKind::kRegistry) {
      BERTH_ASSIGN(image::ImageReference ref, image::parseImageReference(spec.text));
      options.registry.insecureRegistries.push_back(ref.registry);
    }
  }
  BERTH_ASSIGN(cache::ImageCache cache, openCache(site, o.cacheDir));

  auto display = std::make_shared<ProgressDisplay>(invocation.quiet);
  cache::PullObserver observer;
  observer.resolved = [display](const registry::ResolvedImage& r) { display->start(r); };
  observer.download = [display](const image::Descriptor& d, int64_t done, int64_t total) {
    display->update(d, done, total);
  };
  observer.phase = [display](std::string_view what) { display->phase(what); };

  BERTH_ASSIGN(cache::PullResult result, cache::pullImage(o.source, cache, options, observer, log));
  if (result.stats) {
    const auto& s = *result.stats;
    log.verbose(
        "{} files from {} entries ({} hidden by upper layers, {} rejected), {} -> {} in "
        "{:.2f} s",
        s.merge.filesRead, s.merge.entries, s.merge.hidden, s.merge.rejected,
        mib(static_cast<int64_t>(s.squashfs.inputBytes)),
        mib(static_cast<int64_t>(s.squashfs.imageBytes)), s.seconds);
  } else if (result.reused) {
    log.verbose("already in the cache");
  }
  fmt::print("{}\n{}\n", result.digest, result.path.string());
  return 0;
}

}  // namespace

void addPullCommand(CLI::App& app, Invocation& invocation) {
  auto o = std::make_shared<PullCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "pull",
      "Pull an image (registry, oci:, oci-archive:, docker-archive:, directory, squashfs) "
      "into the image cache");
  cmd->add_option("--cache", o->cacheDir,
                  "Image cache directory (default: $BERTH_CACHE_DIR, for root the site cache of "
                  "berth.conf, /var/cache/berth; else ~/.cache/berth)");
  cmd->add_option("-o,--output", o->output, "Write the squashfs image to this file instead");
  cmd->add_option("--platform", o->platform, "OS/ARCH[/VARIANT] to pull (default: this host's)");
  cmd->add_flag("--insecure", o->insecure, "Allow plain HTTP to this image's registry");
  cmd->add_option("--zstd-level", o->zstdLevel,
                  "zstd compression level of the image (1-22; default: berth.conf, 3)")
      ->check(CLI::Range(1, 22));
  cmd->add_flag("--strip-setuid", o->stripSetuid,
                "Remove setuid/setgid bits of image files (kept by default)");
  cmd->add_option("source", o->source,
                  "docker://REGISTRY/REPO[:TAG][@DIGEST], REPO[:TAG], oci:DIR[:TAG], "
                  "oci-archive:FILE[:TAG], docker-archive:FILE, DIR or FILE.sqsh")
      ->required();
  cmd->callback(
      [&invocation, o] { invocation.action = [&invocation, o] { return pull(*o, invocation); }; });
}

}  // namespace berth::cli
