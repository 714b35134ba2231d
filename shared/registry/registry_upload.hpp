// What RegistryClient's push half uploads (distribution's push protocol, OCI distribution-spec
// "Pushing blobs" and "Pushing manifests"):
//
//   blob:     HEAD /v2/NAME/blobs/DIGEST            present: nothing to do
//             POST /v2/NAME/blobs/uploads/?mount=DIGEST&from=SOURCE   201: mounted
//             POST /v2/NAME/blobs/uploads/          202 + Location (an upload session)
//             PATCH LOCATION (Content-Range a-b)    one per chunk; after a failure GET LOCATION
//                                                   says how far the registry got (Range)
//             PUT LOCATION&digest=DIGEST            201, Docker-Content-Digest checked
//   manifest: PUT /v2/NAME/manifests/TAG            Content-Type: its media type
//
//   client.preparePush(target, {"library/source"});     // token scope pull,push (+ pull there)
//   client.pushBlobs(target, uploads, progress);         // layers and config, in parallel
//   auto digest = client.pushManifest(target, manifest, mediaType);
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "shared/core/result.hpp"
#include "shared/image/manifest.hpp"

namespace berth::registry {

// One blob a push needs in the target repository.
struct BlobUpload {
  image::Descriptor blob;  // digest and size are what the registry must end up holding
  // Where its bytes are: a file holding exactly the blob, or the blob itself in memory (configs).
  std::filesystem::path file;
  std::string data;
  // A repository of the target's registry known to hold the blob: mounted from there, not sent.
  std::string mountFrom;
  // When neither `file` nor `data` is set: brings the blob into a file (fetches it from where
  // the image came from) the moment it must be sent; not called when the registry has it.
  std::function<Result<std::filesystem::path>()> fetch;
};

// How a blob reached the target repository.
enum class BlobPushed {
  kPresent,   // it was there already
  kMounted,   // mounted from another repository of the registry
  kUploaded,  // its bytes were sent
};

std::string_view blobPushedName(BlobPushed how);

struct UploadOptions {
  // Bytes per PATCH: what is sent again at most after a broken connection. The registry's
  // OCI-Chunk-Min-Length raises it.
  int64_t chunkBytes = int64_t{64} << 20;
  int parallel = 3;  // blobs sent at once
};

}  // namespace berth::registry
