// RegistryClient: resolves image references to platform manifests and downloads blobs from any
// OCI/Docker registry (distribution HTTP API v2), verifying every byte against its digest.
//
//   auto client = RegistryClient::create(options, log);
//   auto image = client->resolve(ref, "");                 // host platform
//   auto config = client->fetchBlobToString(ref, image->config);
//   client->fetchBlobs(ref, image->layers, dir, progress);  // dir/sha256-<hex>
//
// Pushes too (registry_upload.hpp): blobs, mounted across repositories where possible, and
// manifests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/cancel.hpp"
#include "shared/core/log.hpp"
#include "shared/core/result.hpp"
#include "shared/image/manifest.hpp"
#include "shared/image/reference.hpp"
#include "shared/registry/registry_upload.hpp"

namespace berth::registry {

struct ResolvedImage {
  image::ImageReference reference;  // with digest filled in (the platform manifest's digest)
  std::string manifestDigest;       // digest of the chosen platform manifest
  std::string indexDigest;          // digest of the index/list if there was one, else empty
  std::string platform;             // "linux/amd64"
  std::string manifestMediaType;
  std::string manifest;  // the platform manifest as served (its sha256 is manifestDigest)
  image::Descriptor config;
  std::vector<image::Descriptor> layers;  // bottom-up, as in the manifest
  // The config blob, digest-verified, when resolving had to read it (a single-platform image
  // tells its platform only there); empty otherwise. A pull uses it instead of fetching again.
  std::string configJson;
};

struct RegistryOptions {
  std::vector<std::string> insecureRegistries;  // host[:port] allowed over plain HTTP
  std::map<std::string, std::vector<std::string>>
      mirrors;  // registry -> mirror endpoints, tried first
  int parallelDownloads = 4;
  int retries = 4;            // on 429/5xx/connection errors, exponential backoff
  std::string userConfigDir;  // where `berth login` stores credentials; default
                              // $XDG_CONFIG_HOME/berth or ~/.config/berth
  int backoffBaseMs = 500;    // first retry delay; doubles each time
  // Certificate authorities trusted for HTTPS besides the system store: PEM files (berth.conf's
  // registry_ca_file). BERTH_REGISTRY_CA_FILE from `env` is added to them.
  std::vector<std::filesystem::path> caFiles;
  // The environment credentials and BERTH_INSECURE_* / BERTH_REGISTRY_CA_FILE settings are
  // read from; empty: the process's. slurmstepd passes the user's credentials here (never
  // root's environment/files, and none of the user's trust settings: see docs/security.md).
  std::function<std::optional<std::string>(std::string_view)> env;
  // Polled by every request, retry pause and download (about once a second): true abandons
  // the work with cancelledError() (a download's partial file is removed).
  CancelCheck cancelled;
};

// Called from worker threads (one call at a time) as bytes arrive.
using ProgressFn =
    std::function<void(const image::Descriptor&, int64_t bytesDone, int64_t bytesTotal)>;

// The file name fetchBlobs uses for a blob: "sha256-<hex>".
std::string blobFileName(std::string_view digest);

class RegistryClient {
 public:
  static Result<RegistryClient> create(RegistryOptions options, Logger log);
  RegistryClient(RegistryClient&&) noexcept;
  RegistryClient& operator=(RegistryClient&&) noexcept;
  ~RegistryClient();

  // Resolves tag -> manifest (index/list -> the `platform` manifest; "" = host platform);
  // error listing available platforms when none matches; Docker schema2 and OCI types.
  // A single-platform manifest names no platform: its config blob is fetched to learn it
  // (`platform` set, a warning or error on a mismatch), unless `withConfig` is false: then
  // `platform` stays empty and no blob is read (srun pinning a tag needs only the digest; the
  // node checks the platform when it runs the image).
  Result<ResolvedImage> resolve(const image::ImageReference& ref, std::string_view platform,
                                bool withConfig = true);

  // Small blobs (the config): fetched into memory, digest-verified.
  Result<std::string> fetchBlobToString(const image::ImageReference& ref,
                                        const image::Descriptor& blob);

  // Large blobs: streamed to `dest` + ".partial" (resumed with Range when a partial file exists
  // and the registry supports it), verified while streaming, renamed to `dest` when verified.
  // Foreign layers: their `urls` are tried first.
  Status fetchBlob(const image::ImageReference& ref, const image::Descriptor& blob,
                   const std::filesystem::path& dest, const ProgressFn& progress);

  // Many blobs in parallel (at most parallelDownloads at once), one file per blob:
  // dir/"sha256-<hex>"; existing files that verify are skipped. The first error stops the rest.
  Status fetchBlobs(const image::ImageReference& ref, const std::vector<image::Descriptor>& blobs,
                    const std::filesystem::path& dir, const ProgressFn& progress);

  // Pushing (registry_upload.cpp). Always to the registry itself, never to a mirror.
  // Asks for the token scope `pull,push` on target's repository from now on, with `pull` on
  // each repository of `mountSources` (same registry) in the same token, so mounts from them
  // are allowed.
  void preparePush(const image::ImageReference& target,
                   const std::vector<std::string>& mountSources);
  // Makes `upload.blob` exist in target's repository: nothing when it is there, a mount when
  // `mountFrom` has it, else an upload in chunks (resumed where the registry says it got to
  // after a broken connection). Progress counts bytes sent.
  Result<BlobPushed> pushBlob(const image::ImageReference& target, const BlobUpload& upload,
                              const UploadOptions& options, const ProgressFn& progress);
  // Many blobs, options.parallel at once; the first error stops the rest. Results in order.
  Result<std::vector<BlobPushed>> pushBlobs(const image::ImageReference& target,
                                            const std::vector<BlobUpload>& uploads,
                                            const UploadOptions& options,
                                            const ProgressFn& progress);
  // PUTs `manifest` (sent byte for byte, Content-Type `mediaType`) under target's tag, or its
  // digest when it has one; checks the registry's Docker-Content-Digest. Returns the digest.
  Result<std::string> pushManifest(const image::ImageReference& target, std::string_view manifest,
                                   std::string_view mediaType);

 private:
  struct Impl;
  explicit RegistryClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::registry
