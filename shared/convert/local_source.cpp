#include "shared/convert/local_source.hpp"

#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shared/convert/layer_reader.hpp"
#include "shared/core/read_file.hpp"
#include "shared/image/digest.hpp"
#include "shared/image/manifest.hpp"
#include "shared/image/metadata.hpp"
#include "shared/image/platform.hpp"

namespace berth::convert {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Transport {
  std::string_view prefix;
  SourceKind kind;
};

// Source prefixes, as skopeo and Singularity spell them.
constexpr Transport kTransports[] = {
    {"docker://", SourceKind::kRegistry},             // a registry reference
    {"oci:", SourceKind::kOciLayout},                 // OCI image layout directory
    {"oci-archive:", SourceKind::kOciArchive},        // tar of an OCI image layout
    {"docker-archive:", SourceKind::kDockerArchive},  // `docker save` output
};

// OCI image-layout annotation naming a manifest in index.json.
constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";

struct SquashfsCompressor {
  uint16_t id;
  std::string_view name;
};

// squashfs superblock compression ids (squashfs_fs.h), all of which Linux can mount.
constexpr SquashfsCompressor kSquashfsCompressors[] = {
    {1, "gzip"}, {2, "lzma"}, {3, "lzo"}, {4, "xz"}, {5, "lz4"}, {6, "zstd"},
};

// Index, manifests and configs: small JSON documents.
constexpr size_t kMaxDocumentSize = 64 << 20;

Result<std::string> readSmallFile(const fs::path& path) {
  return readRegularFile(path, kMaxDocumentSize);
}

Result<json> parseJson(std::string_view text, std::string_view what) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded())
    return Error(fmt::format("{}: not valid JSON", what));
  return doc;
}

Result<fs::path> blobPath(const fs::path& layout, std::string_view digest) {
  BERTH_TRY(image::validateDigest(digest));
  return layout / "blobs" / "sha256" / std::string(image::digestHex(digest));
}

Result<std::string> readVerifiedBlob(const fs::path& layout, std::string_view digest) {
  BERTH_ASSIGN(fs::path path, blobPath(layout, digest));
  BERTH_ASSIGN(std::string data, readSmallFile(path));
  BERTH_TRY(image::verifyDigest(digest, data).withContext(path.string()));
  return data;
}

std::string platformOf(const std::string& configJson) {
  auto config = image::parseImageConfig(configJson);
  return config.ok() ? image::platformString(*config) : "";
}

// The index.json entry named `tag`, or the only one.
Result<json> pickManifest(const json& index, std::string_view tag) {
  if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array())
    return Error("index.json has no `manifests` list");
  const json& manifests = index["manifests"];
  std::vector<std::string> names;
  for (const json& m : manifests) {
    std::string name;
    if (m.contains("annotations") && m["annotations"].is_object())
      name = m["annotations"].value(std::string(kRefNameAnnotation), "");
    if (!tag.empty() && name == tag)
      return m;
    names.push_back(name.empty() ? "(untagged)" : name);
  }
  if (tag.empty() && manifests.size() == 1)
    return manifests[0];
  std::string all;
  for (const auto& n : names)
    all += (all.empty() ? "" : ", ") + n;
  if (tag.empty())
    return Error(fmt::format("the layout holds {} images; name one of: {}", names.size(), all));
  return Error(fmt::format("no image tagged `{}` (tags: {})", tag, all.empty() ? "none" : all));
}

// Extracts the regular files of a tarball (an image archive's blobs) under `dir`.
Status extractArchive(const fs::path& file, const fs::path& dir) {
  BERTH_ASSIGN(LayerReader reader, LayerReader::openFile(file));
  std::vector<char> buf(1 << 20);
  while (true) {
    BERTH_ASSIGN(std::optional<LayerEntry> entry, reader.next());
    if (!entry)
      return okStatus();
    if (entry->type != EntryType::kRegular || !entry->rejected.empty() || entry->path.empty())
      continue;
    fs::path out = dir / entry->path;
    std::error_code ec;
    fs::create_directories(out.parent_path(), ec);
    std::ofstream stream(out, std::ios::binary | std::ios::trunc);
    if (!stream)
      return errnoError(fmt::format("create `{}`", out.string()));
    while (true) {
      BERTH_ASSIGN(size_t n, reader.read(buf.data(), buf.size()));
      if (n == 0)
        break;
      stream.write(buf.data(), static_cast<std::streamsize>(n));
    }
    if (!stream.flush())
      return errnoError(fmt::format("write `{}`", out.string()));
  }
}

}  // namespace

Result<SourceSpec> parseSource(std::string_view text) {
  SourceSpec spec;
  spec.text = std::string(text);
  for (const auto& t : kTransports) {
    if (text.substr(0, t.prefix.size()) != t.prefix)
      continue;
    spec.kind = t.kind;
    std::string_view rest = text.substr(t.prefix.size());
    if (spec.kind == SourceKind::kRegistry) {
      spec.text = std::string(rest);
      return spec;
    }
    if (rest.empty())
      return Error(fmt::format("image source `{}`: no path given", text));
    // oci:DIR:TAG: the tag is what follows the last ':' unless that is part of an existing path.
    size_t colon = rest.rfind(':');
    if (spec.kind != SourceKind::kDockerArchive && colon != std::string_view::npos &&
        !fs::exists(fs::path(std::string(rest)))) {
      spec.tag = std::string(rest.substr(colon + 1));
      rest = rest.substr(0, colon);
    }
    spec.location = fs::absolute(fs::path(std::string(rest)));
    return spec;
  }
  std::error_code ec;
  fs::path path{std::string(text)};
  if (text.find('/') != std::string_view::npos || text.starts_with(".")) {
    if (fs::is_directory(path, ec)) {
      spec.kind = SourceKind::kDirectory;
      spec.location = fs::absolute(path);
      return spec;
    }
    if (fs::is_regular_file(path, ec)) {
      spec.kind = SourceKind::kSquashfs;
      spec.location = fs::absolute(path);
      return spec;
    }
  }
  spec.kind = SourceKind::kRegistry;
  return spec;
}

Result<LocalImage> loadOciLayout(const fs::path& dir, std::string_view tag) {
  std::string where = fmt::format("OCI layout `{}`", dir.string());
  BERTH_ASSIGN(std::string indexText, readSmallFile(dir / "index.json").withContext(where));
  BERTH_ASSIGN(json index, parseJson(indexText, "index.json").withContext(where));
  BERTH_ASSIGN(json entry, pickManifest(index, tag).withContext(where));
  std::string digest = entry.value("digest", "");
  std::string mediaType = entry.value("mediaType", "");
  BERTH_ASSIGN(std::string body, readVerifiedBlob(dir, digest).withContext(where));
  BERTH_ASSIGN(image::ManifestDocument doc,
               image::parseManifestDocument(body, mediaType).withContext(where));
  if (doc.kind == image::MediaKind::kIndex) {
    BERTH_ASSIGN(image::Descriptor chosen,
                 image::selectPlatformManifest(doc.manifests, image::detectHostPlatform())
                     .withContext(where));
    digest = chosen.digest;
    BERTH_ASSIGN(body, readVerifiedBlob(dir, digest).withContext(where));
    BERTH_ASSIGN(doc, image::parseManifestDocument(body, chosen.mediaType).withContext(where));
  }
  if (doc.kind != image::MediaKind::kManifest)
    return Error(fmt::format("{}: {} is not an image manifest", where, digest));
  LocalImage image;
  image.digest = digest;
  image.reference = fmt::format("oci:{}{}{}", dir.string(), tag.empty() ? "" : ":", tag);
  BERTH_ASSIGN(image.configJson, readVerifiedBlob(dir, doc.config.digest).withContext(where));
  image.platform = platformOf(image.configJson);
  for (const image::Descriptor& layer : doc.layers) {
    BERTH_ASSIGN(fs::path path, blobPath(dir, layer.digest).withContext(where));
    // The size at once (a truncated or padded blob is refused before any conversion work);
    // the digest while the layer is read (convertLayers).
    std::error_code ec;
    auto size = fs::file_size(path, ec);
    if (ec)
      return Error(fmt::format("{}: layer {}: {}", where, layer.digest, ec.message()), ec.value());
    if (static_cast<int64_t>(size) != layer.size)
      return Error(fmt::format("{}: layer {}: blob has {} bytes, its descriptor says {}", where,
                               layer.digest, size, layer.size));
    image.layers.push_back({path, layer.mediaType, layer.digest, {}});
    image.layers.back().size = layer.size;
  }
  return image;
}

Result<LocalImage> loadOciArchive(const fs::path& file, std::string_view tag,
                                  const fs::path& scratchParent) {
  std::string where = fmt::format("OCI archive `{}`", file.string());
  BERTH_ASSIGN(TempDir scratch, TempDir::create(scratchParent, ".oci-archive.tmp-"));
  BERTH_TRY(extractArchive(file, scratch.path()).withContext(where));
  BERTH_ASSIGN(LocalImage image, loadOciLayout(scratch.path(), tag).withContext(where));
  image.reference = fmt::format("oci-archive:{}{}{}", file.string(), tag.empty() ? "" : ":", tag);
  image.scratch = std::move(scratch);
  return image;
}

Result<LocalImage> loadDockerArchive(const fs::path& file, const fs::path& scratchParent) {
  std::string where = fmt::format("docker archive `{}`", file.string());
  BERTH_ASSIGN(TempDir scratch, TempDir::create(scratchParent, ".docker-archive.tmp-"));
  BERTH_TRY(extractArchive(file, scratch.path()).withContext(where));
  BERTH_ASSIGN(std::string text,
               readSmallFile(scratch.path() / "manifest.json").withContext(where));
  BERTH_ASSIGN(json manifest, parseJson(text, "manifest.json").withContext(where));
  if (!manifest.is_array() || manifest.empty() || !manifest[0].is_object())
    return Error(fmt::format("{}: manifest.json lists no image", where));
  const json& first = manifest[0];
  if (manifest.size() > 1)
    return Error(
        fmt::format("{}: holds {} images; berth imports one per archive", where, manifest.size()));
  LocalImage image;
  try {
    auto configName = first.at("Config").get<std::string>();
    BERTH_ASSIGN(fs::path configPath, [&]() -> Result<fs::path> {
      BERTH_ASSIGN(std::string rel, normalizeLayerPath(configName));
      return scratch.path() / rel;
    }());
    BERTH_ASSIGN(image.configJson, readSmallFile(configPath).withContext(where));
    for (const json& layer : first.at("Layers")) {
      BERTH_ASSIGN(std::string rel, normalizeLayerPath(layer.get<std::string>()));
      // Named by path, not digest: the config's diff_ids check their content.
      image.layers.push_back({scratch.path() / rel, "", "", {}});
    }
  } catch (const json::exception& e) {
    return Error(fmt::format("{}: manifest.json: {}", where, e.what()));
  }
  BERTH_ASSIGN(image.digest, image::sha256Digest(image.configJson));  // Docker's image ID
  image.reference = fmt::format("docker-archive:{}", file.string());
  image.platform = platformOf(image.configJson);
  image.scratch = std::move(scratch);
  return image;
}

Status checkSquashfs(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char super[96] = {};
  if (!in || !in.read(reinterpret_cast<char*>(super), sizeof super))
    return Error(
        fmt::format("`{}` is not a squashfs image (too short or unreadable)", file.string()));
  auto le16 = [&](size_t at) { return static_cast<uint16_t>(super[at] | (super[at + 1] << 8)); };
  if (std::memcmp(super, "hsqs", 4) != 0)
    return Error(fmt::format("`{}` is not a squashfs image (no `hsqs` magic)", file.string()));
  uint16_t compression = le16(20);
  uint16_t major = le16(28);
  uint16_t minor = le16(30);
  if (major != 4 || minor != 0)
    return Error(fmt::format("`{}`: squashfs version {}.{}; only 4.0 is supported", file.string(),
                             major, minor));
  for (const auto& c : kSquashfsCompressors) {
    if (c.id == compression)
      return okStatus();
  }
  return Error(fmt::format("`{}`: unknown squashfs compression id {}", file.string(), compression));
}

}  // namespace berth::convert
