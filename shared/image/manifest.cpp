#include "shared/image/manifest.hpp"

#include <array>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shared/image/digest.hpp"

namespace berth::image {

namespace {

using nlohmann::json;

constexpr std::array kMediaTypes = {
    // OCI image index: a multi-platform list of manifests.
    MediaTypeInfo{"application/vnd.oci.image.index.v1+json", MediaKind::kIndex, Compression::kNone,
                  false},
    // Docker manifest list: Docker's multi-platform list (schema2).
    MediaTypeInfo{"application/vnd.docker.distribution.manifest.list.v2+json", MediaKind::kIndex,
                  Compression::kNone, false},
    // OCI image manifest.
    MediaTypeInfo{"application/vnd.oci.image.manifest.v1+json", MediaKind::kManifest,
                  Compression::kNone, false},
    // Docker image manifest, schema 2.
    MediaTypeInfo{"application/vnd.docker.distribution.manifest.v2+json", MediaKind::kManifest,
                  Compression::kNone, false},
    // OCI image config.
    MediaTypeInfo{"application/vnd.oci.image.config.v1+json", MediaKind::kConfig,
                  Compression::kNone, false},
    // Docker image config (same JSON shape as OCI's).
    MediaTypeInfo{"application/vnd.docker.container.image.v1+json", MediaKind::kConfig,
                  Compression::kNone, false},
    // OCI layer, uncompressed tar.
    MediaTypeInfo{"application/vnd.oci.image.layer.v1.tar", MediaKind::kLayer, Compression::kNone,
                  false},
    // OCI layer, gzip-compressed tar (the common case).
    MediaTypeInfo{"application/vnd.oci.image.layer.v1.tar+gzip", MediaKind::kLayer,
                  Compression::kGzip, false},
    // OCI layer, zstd-compressed tar.
    MediaTypeInfo{"application/vnd.oci.image.layer.v1.tar+zstd", MediaKind::kLayer,
                  Compression::kZstd, false},
    // Docker layer: gzip tar (Docker's only distributable layer type).
    MediaTypeInfo{"application/vnd.docker.image.rootfs.diff.tar.gzip", MediaKind::kLayer,
                  Compression::kGzip, false},
    // Docker layer, uncompressed tar (rare, from some tools).
    MediaTypeInfo{"application/vnd.docker.image.rootfs.diff.tar", MediaKind::kLayer,
                  Compression::kNone, false},
    // Docker foreign layer (Windows base layers): fetched from `urls`.
    MediaTypeInfo{"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", MediaKind::kLayer,
                  Compression::kGzip, true},
    // OCI non-distributable layers (deprecated in image-spec 1.1, still served), from `urls`.
    MediaTypeInfo{"application/vnd.oci.image.layer.nondistributable.v1.tar", MediaKind::kLayer,
                  Compression::kNone, true},
    MediaTypeInfo{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", MediaKind::kLayer,
                  Compression::kGzip, true},
    MediaTypeInfo{"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", MediaKind::kLayer,
                  Compression::kZstd, true},
    // Docker schema 1 (signed, no config blob): obsolete, refused with a clear error.
    MediaTypeInfo{"application/vnd.docker.distribution.manifest.v1+prettyjws",
                  MediaKind::kUnsupported, Compression::kNone, false},
    MediaTypeInfo{"application/vnd.docker.distribution.manifest.v1+json", MediaKind::kUnsupported,
                  Compression::kNone, false},
};

// Media types and versions some servers append ("...+json; charset=utf-8").
std::string_view stripParameters(std::string_view contentType) {
  size_t semi = contentType.find(';');
  std::string_view out = contentType.substr(0, semi);
  while (!out.empty() && out.back() == ' ')
    out.remove_suffix(1);
  return out;
}

Result<std::string> stringField(const json& object, const char* key, bool required) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    if (required)
      return Error(fmt::format("missing field `{}`", key));
    return std::string();
  }
  if (!it->is_string())
    return Error(fmt::format("field `{}` is not a string", key));
  return it->get<std::string>();
}

Result<Descriptor> parseDescriptor(const json& value, std::string_view where) {
  auto context = [&](const Error& e) { return e.withContext(where); };
  if (!value.is_object())
    return Error(fmt::format("{}: not an object", where));
  Descriptor d;
  auto mediaType = stringField(value, "mediaType", true);
  if (!mediaType.ok())
    return context(mediaType.error());
  d.mediaType = *mediaType;
  auto digest = stringField(value, "digest", true);
  if (!digest.ok())
    return context(digest.error());
  if (Status ok = validateDigest(*digest); !ok.ok())
    return context(ok.error());
  d.digest = *digest;
  auto size = value.find("size");
  if (size == value.end() || !size->is_number_integer() || size->get<int64_t>() < 0)
    return Error(fmt::format("{}: field `size` missing or not a non-negative integer", where));
  d.size = size->get<int64_t>();
  if (auto urls = value.find("urls"); urls != value.end() && !urls->is_null()) {
    if (!urls->is_array())
      return Error(fmt::format("{}: field `urls` is not an array", where));
    for (const json& url : *urls) {
      if (!url.is_string())
        return Error(fmt::format("{}: field `urls` holds a non-string", where));
      d.urls.push_back(url.get<std::string>());
    }
  }
  if (auto platform = value.find("platform"); platform != value.end() && platform->is_object()) {
    auto os = stringField(*platform, "os", false);
    auto arch = stringField(*platform, "architecture", false);
    auto variant = stringField(*platform, "variant", false);
    if (!os.ok() || !arch.ok() || !variant.ok())
      return Error(fmt::format("{}: malformed `platform`", where));
    d.platform = Platform{*os, *arch, *variant}.toString();
  }
  return d;
}

Status parseImageManifest(const json& doc, ManifestDocument& out) {
  auto config = doc.find("config");
  if (config == doc.end())
    return Error("missing field `config`");
  BERTH_ASSIGN(out.config, parseDescriptor(*config, "config"));
  const MediaTypeInfo* configType = findMediaType(out.config.mediaType);
  if (configType == nullptr || configType->kind != MediaKind::kConfig)
    return Error(fmt::format("unsupported media type `{}` for the config: not a container image",
                             out.config.mediaType));
  auto layers = doc.find("layers");
  if (layers == doc.end() || !layers->is_array())
    return Error("field `layers` missing or not an array");
  for (size_t i = 0; i < layers->size(); ++i) {
    BERTH_ASSIGN(Descriptor layer, parseDescriptor((*layers)[i], fmt::format("layer {}", i)));
    const MediaTypeInfo* info = findMediaType(layer.mediaType);
    if (info == nullptr || info->kind != MediaKind::kLayer)
      return Error(fmt::format("unsupported media type `{}` for layer {}", layer.mediaType, i));
    out.layers.push_back(std::move(layer));
  }
  return {};
}

Status parseIndex(const json& doc, ManifestDocument& out) {
  auto manifests = doc.find("manifests");
  if (manifests == doc.end() || !manifests->is_array())
    return Error("field `manifests` missing or not an array");
  for (size_t i = 0; i < manifests->size(); ++i) {
    BERTH_ASSIGN(Descriptor entry,
                 parseDescriptor((*manifests)[i], fmt::format("manifest entry {}", i)));
    out.manifests.push_back(std::move(entry));
  }
  return {};
}

}  // namespace

const MediaTypeInfo* findMediaType(std::string_view mediaType) {
  std::string_view bare = stripParameters(mediaType);
  for (const MediaTypeInfo& info : kMediaTypes) {
    if (info.mediaType == bare)
      return &info;
  }
  return nullptr;
}

const std::string& manifestAcceptHeader() {
  static const std::string header = [] {
    std::string out;
    for (const MediaTypeInfo& info : kMediaTypes) {
      if (info.kind != MediaKind::kIndex && info.kind != MediaKind::kManifest)
        continue;
      if (!out.empty())
        out += ", ";
      out += info.mediaType;
    }
    return out;
  }();
  return header;
}

Result<Compression> layerCompression(std::string_view mediaType) {
  const MediaTypeInfo* info = findMediaType(mediaType);
  if (info == nullptr || info->kind != MediaKind::kLayer)
    return Error(fmt::format("unsupported media type `{}`: not a layer", mediaType));
  return info->compression;
}

Result<ManifestDocument> parseManifestDocument(std::string_view body,
                                               std::string_view contentType) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded())
    return Error("malformed manifest: not valid JSON");
  if (!doc.is_object())
    return Error("malformed manifest: not a JSON object");
  auto version = doc.find("schemaVersion");
  if (version != doc.end() && version->is_number_integer() && version->get<int64_t>() == 1)
    return Error("unsupported media type: Docker schema 1 manifests are obsolete");
  if (version == doc.end() || !version->is_number_integer() || version->get<int64_t>() != 2)
    return Error("malformed manifest: `schemaVersion` is not 2");

  ManifestDocument out;
  auto field = stringField(doc, "mediaType", false);
  if (!field.ok())
    return field.error().withContext("malformed manifest");
  out.mediaType = *field;
  if (out.mediaType.empty())
    out.mediaType = std::string(stripParameters(contentType));
  const MediaTypeInfo* info = out.mediaType.empty() ? nullptr : findMediaType(out.mediaType);
  if (info != nullptr)
    out.kind = info->kind;
  else if (out.mediaType.empty() || out.mediaType == "application/json")
    out.kind = doc.contains("manifests") ? MediaKind::kIndex : MediaKind::kManifest;
  if (out.kind != MediaKind::kIndex && out.kind != MediaKind::kManifest)
    return Error(fmt::format("unsupported media type `{}` for a manifest", out.mediaType));

  Status parsed =
      out.kind == MediaKind::kIndex ? parseIndex(doc, out) : parseImageManifest(doc, out);
  if (!parsed.ok()) {
    const std::string& message = parsed.error().message();
    if (message.starts_with("unsupported media type"))
      return std::move(parsed).error();
    return std::move(parsed).error().withContext("malformed manifest");
  }
  return out;
}

Result<Descriptor> selectPlatformManifest(const std::vector<Descriptor>& manifests,
                                          const Platform& wanted) {
  const Descriptor* best = nullptr;
  int bestScore = 0;
  std::vector<std::string> available;
  for (const Descriptor& entry : manifests) {
    const MediaTypeInfo* info = findMediaType(entry.mediaType);
    if (entry.platform.empty() || info == nullptr || info->kind != MediaKind::kManifest)
      continue;
    auto platform = parsePlatform(entry.platform);
    if (!platform.ok() || platform->os == "unknown")  // attestation manifests: "unknown/unknown"
      continue;
    available.push_back(platform->toString());
    int score = platformMatchScore(*platform, wanted);
    if (score > bestScore) {
      best = &entry;
      bestScore = score;
    }
  }
  if (best == nullptr) {
    std::string list;
    for (const std::string& p : available)
      list += (list.empty() ? "" : ", ") + p;
    return Error(fmt::format("no image for platform {}; available: {}", wanted.toString(),
                             list.empty() ? "none" : list));
  }
  Descriptor chosen = *best;
  chosen.platform = parsePlatform(best->platform)->toString();
  return chosen;
}

}  // namespace berth::image
