#include "shared/build/base_image.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "shared/container/image_source.hpp"
#include "shared/convert/image_files.hpp"
#include "shared/convert/local_source.hpp"
#include "shared/core/atomic_file.hpp"
#include "shared/image/metadata.hpp"
#include "shared/registry/registry_client.hpp"

namespace berth::build {
namespace {

namespace fs = std::filesystem;

// Puts `blob` into the blob directory under its digest (a hard link, else a copy).
Status keepBlob(const convert::LayerBlob& blob, const fs::path& blobDir) {
  fs::path target = blobDir / registry::blobFileName(blob.digest);
  if (::access(target.c_str(), F_OK) == 0)
    return okStatus();
  std::error_code ec;
  fs::create_directories(blobDir, ec);
  BERTH_ASSIGN(AtomicFile file, AtomicFile::create(target));
  ::unlink(file.tempPath().c_str());
  if (::link(blob.path.c_str(), file.tempPath().c_str()) != 0) {
    fs::copy_file(blob.path, file.tempPath(), fs::copy_options::overwrite_existing, ec);
    if (ec)
      return Error(fmt::format("keep base layer {}: {}", blob.digest, ec.message()));
  }
  return file.commit();
}

}  // namespace

Result<BaseImage> loadBaseImage(const fs::path& image, std::string name, const fs::path& blobDir) {
  BaseImage base;
  base.name = std::move(name);
  base.squashfs = image;
  container::ImageLocation location{container::ImageKind::kSquashfs, image};
  BERTH_ASSIGN(auto config, convert::readImageFile(location, image::kConfigFile));
  BERTH_ASSIGN(auto sourceText, convert::readImageFile(location, image::kSourceFile));
  base.configJson = config.value_or("");
  if (!sourceText)
    return Error(
        fmt::format("base `{}` has no /.berth/source.json: its layers are unknown", base.name));
  BERTH_ASSIGN(image::ImageSource source, image::parseImageSource(*sourceText));
  base.digest = source.digest;
  if (!source.manifest.empty()) {
    BERTH_ASSIGN(image::ManifestDocument manifest,
                 image::parseManifestDocument(source.manifest, source.manifestMediaType));
    for (const image::Descriptor& layer : manifest.layers) {
      fs::path blob = blobDir / registry::blobFileName(layer.digest);
      if (::access(blob.c_str(), R_OK) != 0)
        return Error(fmt::format(
            "base `{}`: its layer {} is no longer in the blob cache (`berth cache rm {}`, then "
            "build again: the base is pulled anew)",
            base.name, layer.digest, base.name));
      base.layers.push_back({.path = blob,
                             .mediaType = layer.mediaType,
                             .digest = layer.digest,
                             .ready = {},
                             .size = layer.size,
                             .blobVerified = false});
      base.descriptors.push_back(layer);
    }
    return base;
  }
  if (source.reference.starts_with("oci:")) {
    BERTH_ASSIGN(convert::SourceSpec spec, convert::parseSource(source.reference));
    BERTH_ASSIGN(convert::LocalImage local, convert::loadOciLayout(spec.location, spec.tag));
    for (const convert::LayerBlob& layer : local.layers) {
      BERTH_TRY(keepBlob(layer, blobDir));
      base.layers.push_back(layer);
      base.descriptors.push_back({.mediaType = layer.mediaType.empty()
                                                   ? "application/vnd.oci.image.layer.v1.tar+gzip"
                                                   : layer.mediaType,
                                  .digest = layer.digest,
                                  .size = layer.size,
                                  .urls = {},
                                  .platform = {}});
    }
    return base;
  }
  return Error(fmt::format(
      "base `{}` was not pulled from a registry or an OCI layout: berth does not know its layers "
      "(not supported as a base yet)",
      base.name));
}

Result<BaseImage> scratchBaseImage(const fs::path& scratchDir, const Logger& log) {
  BaseImage base;
  base.name = "scratch";
  base.digest = "scratch";
  fs::path empty = scratchDir / "scratch-root";
  std::error_code ec;
  fs::create_directories(empty, ec);
  if (ec)
    return Error(fmt::format("create `{}`: {}", empty.string(), ec.message()));
  base.squashfs = scratchDir / "scratch.sqsh";
  BERTH_TRY(
      convert::convertDirectory(empty, {}, base.squashfs, {}, log).withContext("FROM scratch"));
  return base;
}

}  // namespace berth::build
