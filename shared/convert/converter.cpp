#include "shared/convert/converter.hpp"

#include <chrono>
#include <ctime>
#include <vector>

#include <fmt/format.h>

#include "shared/core/atomic_file.hpp"
#include "shared/image/digest.hpp"
#include "shared/image/manifest.hpp"
#include "shared/image/metadata.hpp"

namespace berth::convert {
namespace {

constexpr size_t kCopyBuffer = 256 * 1024;

class Conversion {
 public:
  Conversion(const ConvertOptions& options, const Logger& log)
      : options_(options),
        log_(log),
        merger_(MergeOptions{.stripSetuid = options.stripSetuid}, log),
        buffer_(kCopyBuffer) {}

  Status open(const std::filesystem::path& temp) {
    SquashfsOptions sq;
    sq.zstdLevel = options_.zstdLevel;
    sq.workers = options_.workers;
    sq.mkfsTime = options_.mkfsTime;
    BERTH_ASSIGN(writer_, SquashfsWriter::create(temp, sq, log_));
    return okStatus();
  }

  // /.berth/ goes in as the topmost layer: whatever an image carries there is shadowed.
  Status addMetadata(const ImageMetadataFiles& files) {
    merger_.beginLayer("berth metadata");
    int64_t now = static_cast<int64_t>(std::time(nullptr));
    LayerEntry dir;
    dir.path = std::string(image::kMetadataDir);
    dir.type = EntryType::kDirectory;
    dir.mode = 0755;
    dir.mtime = now;
    (void)merger_.add(dir);
    for (auto [path, content] : {std::pair{image::kConfigFile, &files.configJson},
                                 std::pair{image::kSourceFile, &files.sourceJson}}) {
      if (content->empty())
        continue;
      LayerEntry file;
      file.path = std::string(path);
      file.type = EntryType::kRegular;
      file.mode = 0644;
      file.mtime = now;
      file.size = static_cast<int64_t>(content->size());
      MergeDecision decision = merger_.add(file);
      if (decision.readInto) {
        BERTH_TRY(writer_->beginFile(*decision.readInto));
        BERTH_TRY(writer_->append(content->data(), content->size()));
        BERTH_TRY(writer_->endFile());
      }
    }
    return okStatus();
  }

  Status addLayer(LayerReader& reader, std::string name) {
    merger_.beginLayer(std::move(name));
    while (true) {
      BERTH_ASSIGN(std::optional<LayerEntry> entry, reader.next());
      if (!entry)
        return okStatus();
      BERTH_TRY(count(*entry));
      MergeDecision decision = merger_.add(*entry);
      if (!decision.readInto)
        continue;  // never read: libarchive skips the data (seeks when it can)
      BERTH_TRY(writer_->beginFile(*decision.readInto));
      while (true) {
        BERTH_ASSIGN(size_t n, reader.read(buffer_.data(), buffer_.size()));
        if (n == 0)
          break;
        BERTH_TRY(writer_->append(buffer_.data(), n));
      }
      BERTH_TRY(writer_->endFile());
    }
  }

  Result<ConvertStats> finish() {
    merger_.finish();
    BERTH_TRY(writer_->finish(merger_.tree()));
    ConvertStats stats;
    stats.merge = merger_.stats();
    stats.squashfs = writer_->stats();
    if (stats.merge.setuidStripped > 0)
      log_.warning("setuid/setgid bits removed from {} files", stats.merge.setuidStripped);
    if (stats.merge.capabilitiesStripped > 0)
      log_.warning("file capabilities removed from {} files", stats.merge.capabilitiesStripped);
    if (stats.merge.devicesDropped > 0) {
      bool more = stats.merge.devicesDropped > std::ssize(stats.merge.deviceSample);
      log_.warning("{} device nodes dropped (never taken from images): {}{}",
                   stats.merge.devicesDropped, fmt::join(stats.merge.deviceSample, ", "),
                   more ? ", ..." : "");
    }
    return stats;
  }

 private:
  // Every entry of every layer counts, hidden or not: libarchive reads (decompresses) them all.
  Status count(const LayerEntry& entry) {
    const ImageLimits& limits = options_.limits;
    if (++entries_ > limits.entries)
      return Error(fmt::format("the image has more than {} entries (berth.conf max_image_entries)",
                               limits.entries));
    if (entry.type == EntryType::kRegular && entry.size > 0) {
      bytes_ += entry.size;
      if (bytes_ > limits.bytes)
        return Error(fmt::format(
            "the image's files hold more than {} bytes uncompressed (berth.conf max_image_size); "
            "`{}` alone declares {}",
            limits.bytes, entry.path, entry.size));
    }
    return okStatus();
  }

  const ConvertOptions& options_;
  const Logger& log_;
  int64_t entries_ = 0;
  int64_t bytes_ = 0;
  LayerMerger merger_;
  std::unique_ptr<SquashfsWriter> writer_;
  std::vector<char> buffer_;
};

// The config's rootfs.diff_ids, one per layer (bottom-up). An image made without a config
// (tests, directory trees) has nothing to check against.
Result<std::vector<std::string>> expectedDiffIds(const std::string& configJson, size_t layers) {
  if (configJson.empty())
    return std::vector<std::string>();
  BERTH_ASSIGN(image::ImageConfig config, image::parseImageConfig(configJson));
  const std::vector<std::string>& diffIds = config.diffIds;
  if (diffIds.size() != layers)
    return Error(
        fmt::format("the image config lists {} diff_ids for {} layers", diffIds.size(), layers));
  for (const std::string& id : diffIds)
    BERTH_TRY(image::validateDigest(id).withContext("the image config's rootfs.diff_ids"));
  return diffIds;
}

// A tree read from a directory (a sandbox, a saved container) is no longer the layers its
// source.json's manifest lists: it keeps where it came from, not the manifest (or a push would
// send the original image instead of this one).
ImageMetadataFiles withoutManifest(ImageMetadataFiles metadata) {
  if (metadata.sourceJson.empty())
    return metadata;
  auto source = image::parseImageSource(metadata.sourceJson);
  if (source.ok() && !source->manifest.empty()) {
    source->manifest.clear();
    source->manifestMediaType.clear();
    metadata.sourceJson = image::serializeImageSource(*source);
  }
  return metadata;
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Status checkLayerCount(size_t layers, const ImageLimits& limits) {
  if (layers > limits.layers)
    return Error(fmt::format("the image has {} layers, more than {} (berth.conf max_layers)",
                             layers, limits.layers));
  return okStatus();
}

Result<ConvertStats> convertLayers(const std::vector<LayerBlob>& bottomUp,
                                   const ImageMetadataFiles& metadata,
                                   const std::filesystem::path& output,
                                   const ConvertOptions& options, const Logger& log,
                                   const LayerDoneFn& onLayer) {
  auto start = std::chrono::steady_clock::now();
  std::string where = fmt::format("convert to `{}`", output.string());
  BERTH_TRY(checkLayerCount(bottomUp.size(), options.limits).withContext(where));
  BERTH_ASSIGN(std::vector<std::string> diffIds,
               expectedDiffIds(metadata.configJson, bottomUp.size()).withContext(where));
  BERTH_ASSIGN(AtomicFile file, AtomicFile::create(output).withContext(where));
  Conversion conversion(options, log);
  BERTH_TRY(conversion.open(file.tempPath()).withContext(where));
  BERTH_TRY(conversion.addMetadata(metadata).withContext(where));
  for (size_t i = bottomUp.size(); i-- > 0;) {
    const LayerBlob& blob = bottomUp[i];
    std::string name = blob.digest.empty() ? blob.path.string() : blob.digest;
    std::string context = fmt::format("{}: layer {}", where, name);
    if (!blob.mediaType.empty())
      BERTH_TRY(image::layerCompression(blob.mediaType).withContext(context));
    if (blob.ready)
      BERTH_TRY(blob.ready().withContext(context));
    LayerDigests expected;
    if (!blob.blobVerified) {
      expected.blob = blob.digest;
      expected.blobSize = blob.size;
    }
    if (!diffIds.empty())
      expected.diffId = diffIds[i];
    BERTH_ASSIGN(LayerReader reader,
                 LayerReader::openFile(blob.path, expected).withContext(context));
    BERTH_TRY(conversion.addLayer(reader, name).withContext(context));
    if (onLayer)
      onLayer(i, bottomUp.size());
  }
  BERTH_ASSIGN(ConvertStats stats, conversion.finish().withContext(where));
  BERTH_TRY(file.commit().withContext(where));
  stats.seconds = secondsSince(start);
  return stats;
}

Result<ConvertStats> convertDirectory(const std::filesystem::path& root,
                                      const ImageMetadataFiles& metadata,
                                      const std::filesystem::path& output,
                                      const ConvertOptions& options, const Logger& log) {
  auto start = std::chrono::steady_clock::now();
  std::string where = fmt::format("convert directory `{}` to `{}`", root.string(), output.string());
  BERTH_ASSIGN(AtomicFile file, AtomicFile::create(output).withContext(where));
  Conversion conversion(options, log);
  BERTH_TRY(conversion.open(file.tempPath()).withContext(where));
  BERTH_TRY(conversion.addMetadata(withoutManifest(metadata)).withContext(where));
  BERTH_ASSIGN(LayerReader reader, LayerReader::openDirectory(root).withContext(where));
  BERTH_TRY(conversion.addLayer(reader, root.string()).withContext(where));
  BERTH_ASSIGN(ConvertStats stats, conversion.finish().withContext(where));
  BERTH_TRY(file.commit().withContext(where));
  stats.seconds = secondsSince(start);
  return stats;
}

}  // namespace berth::convert
