// Registry manifests: the media type table, parsing of image manifests and indexes (Docker
// schema2 and OCI), and picking the manifest for a platform out of an index.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"
#include "shared/image/platform.hpp"

namespace berth::image {

// A content descriptor (OCI image-spec descriptor.md), as manifests list blobs and indexes list
// manifests.
struct Descriptor {
  std::string mediaType;
  std::string digest;  // "sha256:<hex>"
  int64_t size = 0;
  std::vector<std::string> urls;  // foreign layers: where to fetch the blob instead
  std::string platform;           // index entries: "linux/arm64/v8"; empty elsewhere
};

enum class MediaKind {
  kIndex,     // a list of per-platform manifests
  kManifest,  // one image: a config and layers
  kConfig,    // the image config JSON
  kLayer,     // a filesystem layer (tar, maybe compressed)
  kUnsupported,
};

enum class Compression { kNone, kGzip, kZstd };

struct MediaTypeInfo {
  std::string_view mediaType;
  MediaKind kind;
  Compression compression;  // layers only
  bool foreign;             // non-distributable layer: may come from `urls`
};

// The entry for `mediaType`, or nullptr when berth does not know it.
const MediaTypeInfo* findMediaType(std::string_view mediaType);

// The Accept header value for manifest requests: every index and manifest type berth reads.
const std::string& manifestAcceptHeader();

// Compression of a layer media type; an error for types that are not layers.
Result<Compression> layerCompression(std::string_view mediaType);

// A parsed manifest or index document.
struct ManifestDocument {
  MediaKind kind = MediaKind::kUnsupported;  // kIndex or kManifest
  std::string mediaType;
  Descriptor config;                  // manifests
  std::vector<Descriptor> layers;     // manifests, bottom-up
  std::vector<Descriptor> manifests;  // indexes, with `platform` filled in
};

// Parses a manifest or index; the media type comes from the document's `mediaType` field, else
// from `contentType` (the HTTP Content-Type), else from its shape. Errors: malformed JSON,
// missing/wrong fields, unsupported media type (Docker schema1, artifacts that are not images).
Result<ManifestDocument> parseManifestDocument(std::string_view body, std::string_view contentType);

// The index entry that best serves `wanted`; an error listing the available platforms otherwise.
Result<Descriptor> selectPlatformManifest(const std::vector<Descriptor>& manifests,
                                          const Platform& wanted);

}  // namespace berth::image
