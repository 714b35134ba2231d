#include "shared/push/push.hpp"

#include <fcntl.h>

#include <cstdlib>
#include <ctime>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shared/convert/image_files.hpp"
#include "shared/core/temp_dir.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/image/digest.hpp"
#include "shared/image/manifest.hpp"
#include "shared/image/metadata.hpp"

namespace berth::push {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Media types of what a flattened push makes (manifest.hpp's table knows them all).
constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";

// Config fields a flattened image takes over unchanged (image-spec config.md); everything else
// (rootfs, history, created, the Docker-only container fields) describes the old layers.
constexpr const char* kKeptConfigFields[] = {"architecture", "os",     "variant", "os.version",
                                             "os.features",  "config", "author"};

void announce(const PushObserver& observer, std::string_view phase) {
  if (observer.phase)
    observer.phase(phase);
}

// RFC 3339 UTC: SOURCE_DATE_EPOCH when set (reproducible pushes), else now.
std::string creationTime() {
  std::time_t t = std::time(nullptr);
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH"); epoch != nullptr && *epoch != '\0') {
    char* end = nullptr;
    long long value = std::strtoll(epoch, &end, 10);
    if (end != nullptr && *end == '\0' && value >= 0)
      t = static_cast<std::time_t>(value);
  }
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The image's /.berth/ files berth reads here.
struct ImageMetadata {
  std::optional<std::string> configJson;
  std::optional<image::ImageSource> source;
};

Result<ImageMetadata> readMetadata(const fs::path& path) {
  container::ImageLocation location{container::ImageKind::kSquashfs, path};
  ImageMetadata out;
  BERTH_ASSIGN(out.configJson,
               convert::readImageFile(location, image::kConfigFile, convert::kMaxImageConfigBytes));
  BERTH_ASSIGN(auto source, convert::readImageFile(location, image::kSourceFile));
  if (source) {
    auto parsed = image::parseImageSource(*source);
    if (parsed.ok())
      out.source = std::move(parsed).value();
  }
  return out;
}

// The pulled image's own manifest, when the image is that image unchanged; why not otherwise.
struct ExactImage {
  image::ImageReference source;
  std::string manifest;
  std::string mediaType;
  image::ManifestDocument document;
  std::string configJson;
};

Result<ExactImage> exactImage(const ImageMetadata& metadata) {
  if (!metadata.source || metadata.source->manifest.empty())
    return Error("no manifest recorded in /.berth/source.json");
  const image::ImageSource& source = *metadata.source;
  ExactImage out;
  BERTH_ASSIGN(out.source, image::parseImageReference(source.reference));
  BERTH_ASSIGN(std::string digest, image::sha256Digest(source.manifest));
  if (digest != source.digest)
    return Error("the recorded manifest does not match the recorded digest");
  BERTH_ASSIGN(out.document,
               image::parseManifestDocument(source.manifest, source.manifestMediaType));
  if (out.document.kind != image::MediaKind::kManifest)
    return Error("the recorded manifest is not an image manifest");
  if (!metadata.configJson)
    return Error("the image has no /.berth/config.json");
  BERTH_ASSIGN(std::string configDigest, image::sha256Digest(*metadata.configJson));
  if (configDigest != out.document.config.digest)
    return Error("/.berth/config.json is not the config blob the manifest names");
  out.source.digest = digest;
  out.manifest = source.manifest;
  out.mediaType = out.document.mediaType;
  out.configJson = *metadata.configJson;
  return out;
}

// True when `path` is a file of `size` bytes (blob cache files are verified when written).
bool haveBlob(const fs::path& path, int64_t size) {
  std::error_code ec;
  auto actual = fs::file_size(path, ec);
  return !ec && static_cast<int64_t>(actual) == size;
}

struct Counts {
  int present = 0;
  int mounted = 0;
  int uploaded = 0;
  int64_t bytes = 0;
};

Counts count(const std::vector<registry::BlobUpload>& uploads,
             const std::vector<registry::BlobPushed>& how) {
  Counts c;
  for (size_t i = 0; i < how.size(); ++i) {
    switch (how[i]) {
      case registry::BlobPushed::kPresent:
        ++c.present;
        break;
      case registry::BlobPushed::kMounted:
        ++c.mounted;
        break;
      case registry::BlobPushed::kUploaded:
        ++c.uploaded;
        c.bytes += uploads[i].blob.size;
        break;
    }
  }
  return c;
}

Result<PushResult> sendImage(registry::RegistryClient& client, const image::ImageReference& target,
                             std::vector<registry::BlobUpload> uploads,
                             const std::vector<std::string>& mountSources,
                             std::string_view manifest, std::string_view mediaType,
                             const PushOptions& options, const PushObserver& observer) {
  client.preparePush(target, mountSources);
  if (observer.blobs) {
    std::vector<image::Descriptor> blobs;
    for (const auto& upload : uploads)
      blobs.push_back(upload.blob);
    observer.blobs(blobs);
  }
  BERTH_ASSIGN(std::vector<registry::BlobPushed> how,
               client.pushBlobs(target, uploads, options.upload, observer.upload));
  BERTH_ASSIGN(std::string digest, client.pushManifest(target, manifest, mediaType));
  Counts c = count(uploads, how);
  PushResult result;
  result.digest = digest;
  result.reference = target.toString();
  result.present = c.present;
  result.mounted = c.mounted;
  result.uploaded = c.uploaded;
  result.bytesUploaded = c.bytes;
  return result;
}

Result<PushResult> pushExact(ExactImage exact, const image::ImageReference& target,
                             const PushOptions& options, const PushObserver& observer,
                             const Logger& log) {
  BERTH_ASSIGN(registry::RegistryClient client,
               registry::RegistryClient::create(options.registry, log));
  // Mounts need the blob in a repository of the same registry the user may read.
  bool sameRegistry = exact.source.registry == target.registry;
  std::vector<std::string> mountSources;
  if (sameRegistry && exact.source.repository != target.repository)
    mountSources.push_back(exact.source.repository);
  std::vector<registry::BlobUpload> uploads;
  for (const image::Descriptor& layer : exact.document.layers) {
    const image::MediaTypeInfo* info = image::findMediaType(layer.mediaType);
    if (info != nullptr && info->foreign)
      continue;  // non-distributable: registries serve it from its urls, nobody pushes it
    registry::BlobUpload upload;
    upload.blob = layer;
    if (sameRegistry)
      upload.mountFrom = exact.source.repository;
    fs::path cached = options.blobDir.empty()
                          ? fs::path()
                          : options.blobDir / registry::blobFileName(layer.digest);
    if (!cached.empty() && haveBlob(cached, layer.size)) {
      upload.file = cached;
    } else {
      // Gone from the blob cache (or never there): fetched again from where the image came
      // from, only if the target registry has no copy to mount.
      fs::path dir = options.blobDir.empty() ? options.scratchDir : options.blobDir;
      upload.fetch = [&client, source = exact.source, layer, dir, &log]() -> Result<fs::path> {
        log.verbose("fetching {} from {}", layer.digest, source.toString());
        BERTH_TRY(client.fetchBlobs(source, {layer}, dir, nullptr));
        return dir / registry::blobFileName(layer.digest);
      };
    }
    uploads.push_back(std::move(upload));
  }
  registry::BlobUpload config;
  config.blob = exact.document.config;
  config.data = exact.configJson;
  if (sameRegistry)
    config.mountFrom = exact.source.repository;
  uploads.push_back(std::move(config));
  BERTH_ASSIGN(PushResult result, sendImage(client, target, std::move(uploads), mountSources,
                                            exact.manifest, exact.mediaType, options, observer));
  result.exact = true;
  return result;
}

Result<PushResult> pushFlattened(const fs::path& image, const ImageMetadata& metadata,
                                 const image::ImageReference& target, const PushOptions& options,
                                 const PushObserver& observer, const Logger& log) {
  BERTH_ASSIGN(TempDir scratch, TempDir::create(options.scratchDir, ".push.tmp-"));
  fs::path layerPath = scratch.path() / "layer";
  UniqueFd fd(::open(layerPath.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd)
    return errnoError(fmt::format("create `{}`", layerPath.string()));
  convert::FlattenOptions flatten;
  flatten.compress = options.compress;
  // A pull makes these two anew; the layer should not carry stale copies.
  flatten.exclude = {std::string(image::kConfigFile), std::string(image::kSourceFile)};
  announce(observer, fmt::format("flattening `{}` into one layer", image.string()));
  BERTH_ASSIGN(convert::FlatLayer flat, convert::flattenSquashfs(image, fd.get(), flatten, log));
  fd.reset();
  log.verbose("layer: {} entries ({} hard links, {} xattrs), tar {} bytes, blob {} bytes",
              flat.stats.entries, flat.stats.hardLinks, flat.stats.xattrs, flat.blob.tarBytes,
              flat.blob.size);

  std::string platform = metadata.source && !metadata.source->platform.empty()
                             ? metadata.source->platform
                             : image::hostPlatform();
  BERTH_ASSIGN(std::string config,
               flattenedConfig(metadata.configJson.value_or(""), flat.blob.diffId, creationTime(),
                               platform, fmt::format("berth push (flattened) {}", BERTH_VERSION)));
  image::Descriptor configBlob;
  configBlob.mediaType = kOciConfig;
  configBlob.size = static_cast<int64_t>(config.size());
  BERTH_ASSIGN(configBlob.digest, image::sha256Digest(config));
  bool zstd = options.compress.compression == image::Compression::kZstd;
  image::Descriptor layerBlob;
  layerBlob.mediaType = zstd ? kOciLayerZstd : kOciLayerGzip;
  layerBlob.digest = flat.blob.digest;
  layerBlob.size = flat.blob.size;
  std::string manifest = oneLayerManifest(configBlob, layerBlob);

  BERTH_ASSIGN(registry::RegistryClient client,
               registry::RegistryClient::create(options.registry, log));
  std::vector<registry::BlobUpload> uploads(2);
  uploads[0].blob = layerBlob;
  uploads[0].file = layerPath;
  uploads[1].blob = configBlob;
  uploads[1].data = config;
  return sendImage(client, target, std::move(uploads), {}, manifest, kOciManifest, options,
                   observer);
}

}  // namespace

Result<std::string> flattenedConfig(std::string_view original, const std::string& diffId,
                                    const std::string& created, const std::string& platform,
                                    const std::string& createdBy) {
  json config = json::object();
  if (!original.empty()) {
    json old = json::parse(original, nullptr, false);
    if (old.is_discarded() || !old.is_object())
      return Error("/.berth/config.json is not a JSON object");
    for (const char* field : kKeptConfigFields) {
      if (auto it = old.find(field); it != old.end())
        config[field] = *it;
    }
  }
  if (!config.contains("architecture") || !config.contains("os")) {
    BERTH_ASSIGN(image::Platform parsed, image::parsePlatform(platform));
    config["os"] = parsed.os;
    config["architecture"] = parsed.architecture;
    if (!parsed.variant.empty())
      config["variant"] = parsed.variant;
  }
  if (!config.contains("config"))
    config["config"] = json::object();
  config["created"] = created;
  config["rootfs"] = json::object();
  config["rootfs"]["type"] = "layers";
  config["rootfs"]["diff_ids"] = json::array();
  config["rootfs"]["diff_ids"].push_back(diffId);
  json entry = json::object();
  entry["created"] = created;
  entry["created_by"] = createdBy;
  config["history"] = json::array();
  config["history"].push_back(std::move(entry));
  return config.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string oneLayerManifest(const image::Descriptor& config, const image::Descriptor& layer) {
  auto descriptor = [](const image::Descriptor& d) {
    nlohmann::ordered_json out;
    out["mediaType"] = d.mediaType;
    out["digest"] = d.digest;
    out["size"] = d.size;
    return out;
  };
  // Key order as the image-spec examples have it (an ordered_json keeps insertion order).
  nlohmann::ordered_json manifest;
  manifest["schemaVersion"] = 2;
  manifest["mediaType"] = kOciManifest;
  manifest["config"] = descriptor(config);
  manifest["layers"] = nlohmann::ordered_json::array();
  manifest["layers"].push_back(descriptor(layer));
  return manifest.dump();
}

Result<PushResult> pushImage(const container::ImageLocation& location,
                             const image::ImageReference& target, const PushOptions& options,
                             const PushObserver& observer, const Logger& log) {
  auto run = [&]() -> Result<PushResult> {
    fs::path image = location.path;
    std::optional<TempDir> converted;
    if (location.kind == container::ImageKind::kDirectory) {
      // The tree as `berth pull DIR` would make it; its /.berth/ files come along.
      BERTH_ASSIGN(converted, TempDir::create(options.scratchDir, ".push.tmp-"));
      image = converted->path() / "sandbox.sqsh";
      announce(observer, fmt::format("converting `{}`", location.path.string()));
      BERTH_TRY(convert::convertDirectory(location.path, {}, image, options.convert, log));
    }
    BERTH_ASSIGN(ImageMetadata metadata, readMetadata(image));
    if (!options.squash) {
      auto exact = exactImage(metadata);
      if (exact.ok())
        return pushExact(std::move(exact).value(), target, options, observer, log);
      log.verbose("`{}` is pushed flattened: {}", image.string(), exact.error().message());
    }
    return pushFlattened(image, metadata, target, options, observer, log);
  };
  return run().withContext(fmt::format(
      "push `{}` to `{}`", options.imageName.empty() ? location.path.string() : options.imageName,
      target.toString()));
}

}  // namespace berth::push
