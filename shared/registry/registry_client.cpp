#include "shared/registry/registry_client.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "shared/core/strings.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/image/digest.hpp"
#include "shared/image/metadata.hpp"
#include "shared/registry/registry_client_impl.hpp"
#include "shared/registry/tls_trust.hpp"

namespace berth::registry {

namespace {

namespace fs = std::filesystem;

// A manifest is small; anything bigger is not one (distribution itself limits to 4 MiB).
constexpr size_t kMaxManifestBytes = 4 << 20;
// Configs are small JSON; fetchBlobToString refuses larger blobs.
constexpr int64_t kMaxInMemoryBlob = 64 << 20;

std::string defaultMessage(long status, std::string_view what) {
  switch (status) {
    case 404:
      return fmt::format("{} unknown", what);
    case 403:
      return "access denied";
    case 429:
      return "too many requests";
    default:
      return status >= 500 ? "registry error" : "unexpected answer";
  }
}

}  // namespace

Error registryStatusError(const HttpResponse& response, std::string_view what) {
  std::string message = registryErrorMessage(response.body);
  if (message.empty())
    message = defaultMessage(response.status, what);
  return Error(fmt::format("{} (HTTP {})", message, response.status));
}

std::string blobFileName(std::string_view digest) {
  return fmt::format("sha256-{}", image::digestHex(digest));
}

RegistryClient::RegistryClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RegistryClient::RegistryClient(RegistryClient&&) noexcept = default;
RegistryClient& RegistryClient::operator=(RegistryClient&&) noexcept = default;
RegistryClient::~RegistryClient() = default;

Result<RegistryClient> RegistryClient::create(RegistryOptions options, Logger log) {
  if (options.parallelDownloads < 1)
    return Error("parallel downloads must be at least 1");
  if (options.retries < 0)
    return Error("retries must not be negative");
  EnvLookup env = options.env ? EnvLookup(options.env) : processEnvironment();
  TransportOptions transport;
  transport.insecureRegistries = insecureRegistrySet(options.insecureRegistries, env);
  for (const auto& [registry, mirrors] : options.mirrors) {
    BERTH_ASSIGN(std::string name, image::normalizeRegistryName(registry).withContext(
                                       "registry mirror configuration"));
    transport.mirrors[name] = mirrors;
  }
  transport.retries = options.retries;
  transport.backoffBase = std::chrono::milliseconds(options.backoffBaseMs);
  transport.cancelled = options.cancelled;
  // Extra CAs: the site's (berth.conf), then the environment's. Read now: a missing or broken
  // file is one clear error before anything is asked of a registry.
  std::vector<CaFile> caFiles;
  for (const std::filesystem::path& path : options.caFiles)
    caFiles.push_back({path, "registry_ca_file"});
  if (auto path = env(kCaFileVariable); path && !trim(*path).empty())
    caFiles.push_back({std::string(trim(*path)), std::string(kCaFileVariable)});
  std::string extraCas;
  for (const CaFile& file : caFiles) {
    BERTH_ASSIGN(std::string pem, readCaFile(file));
    extraCas += pem;
  }
  BERTH_ASSIGN(transport.caBundle, trustBundle(extraCas));
  CredentialStore credentials =
      options.env ? CredentialStore(env,
                                    options.userConfigDir.empty()
                                        ? defaultUserConfigDir(env)
                                        : std::filesystem::path(options.userConfigDir),
                                    defaultDockerConfigPath(env))
                  : CredentialStore::fromEnvironment(options.userConfigDir);
  return RegistryClient(std::make_unique<Impl>(std::move(options), std::move(transport),
                                               std::move(credentials), std::move(log)));
}

Result<FetchedManifest> RegistryClient::Impl::fetchManifest(const image::ImageReference& ref,
                                                            const std::string& reference) {
  BERTH_ASSIGN(Lease l, lease());
  std::optional<Error> lastError;
  for (const RegistryEndpoint& endpoint : transport.endpoints(ref)) {
    HttpRequest request;
    request.url = fmt::format("/v2/{}/manifests/{}", ref.repository, reference);
    // Registry 2.8 answers 404 to a manifest request that does not accept OCI types.
    request.headers.push_back("Accept: " + image::manifestAcceptHeader());
    request.maxBodyBytes = kMaxManifestBytes;
    auto response = transport.send(*l.session, endpoint, ref, request);
    Result<FetchedManifest> result = Error("");
    if (!response.ok()) {
      result = std::move(response).error();
    } else if (response->status != 200) {
      result = registryStatusError(*response, "manifest");
    } else {
      BERTH_ASSIGN(std::string digest, image::sha256Digest(response->body));
      result = FetchedManifest{response->body, std::move(digest), response->header("content-type")};
    }
    if (result.ok() || !endpoint.mirror)
      return result;
    log().verbose("mirror {} of {}: {}; trying the next source", endpoint.host, ref.registry,
                  result.error().message());
  }
  return Error("no registry endpoint");  // unreachable: the registry itself is always last
}

Result<ResolvedImage> RegistryClient::resolve(const image::ImageReference& ref,
                                              std::string_view platform, bool withConfig) {
  auto run = [&]() -> Result<ResolvedImage> {
    image::Platform wanted = image::detectHostPlatform();
    if (!platform.empty()) {
      BERTH_ASSIGN(wanted, image::parsePlatform(platform));
    }
    BERTH_ASSIGN(FetchedManifest top, impl_->fetchManifest(ref, ref.manifestReference()));
    if (!ref.digest.empty())
      BERTH_TRY(image::checkDigest(ref.digest, top.digest).withContext("manifest"));
    BERTH_ASSIGN(image::ManifestDocument doc,
                 image::parseManifestDocument(top.body, top.contentType));
    ResolvedImage out;
    out.reference = ref;
    if (doc.kind == image::MediaKind::kIndex) {
      BERTH_ASSIGN(image::Descriptor entry, image::selectPlatformManifest(doc.manifests, wanted));
      out.indexDigest = top.digest;
      out.platform = entry.platform;
      BERTH_ASSIGN(top, impl_->fetchManifest(ref, entry.digest));
      BERTH_TRY(image::checkDigest(entry.digest, top.digest).withContext("platform manifest"));
      BERTH_ASSIGN(doc, image::parseManifestDocument(top.body, top.contentType));
      if (doc.kind != image::MediaKind::kManifest)
        return Error(
            fmt::format("unsupported media type `{}`: an index inside an index", doc.mediaType));
    }
    out.manifestDigest = top.digest;
    out.manifestMediaType = doc.mediaType;
    out.manifest = std::move(top.body);
    out.config = doc.config;
    out.layers = doc.layers;
    out.reference.digest = out.manifestDigest;
    if (out.platform.empty() && withConfig) {
      // A single-platform image: its config says which platform it is for.
      BERTH_ASSIGN(out.configJson, fetchBlobToString(ref, out.config));
      BERTH_ASSIGN(image::ImageConfig config, image::parseImageConfig(out.configJson));
      out.platform = image::platformString(config);
      auto actual = image::parsePlatform(out.platform);
      if (actual.ok() && image::platformMatchScore(*actual, wanted) == 0) {
        if (!platform.empty())
          return Error(fmt::format("no image for platform {}; available: {}", wanted.toString(),
                                   out.platform));
        impl_->log().warning("`{}` is for {}, not for this host ({})", ref.toString(), out.platform,
                             wanted.toString());
      }
    }
    return out;
  };
  return run().withContext(fmt::format("resolve `{}`", ref.toString()));
}

Result<std::string> RegistryClient::fetchBlobToString(const image::ImageReference& ref,
                                                      const image::Descriptor& blob) {
  auto run = [&]() -> Result<std::string> {
    BERTH_TRY(image::validateDigest(blob.digest));
    if (blob.size > kMaxInMemoryBlob)
      return Error(fmt::format("blob of {} bytes is too large to fetch into memory", blob.size));
    BERTH_ASSIGN(Impl::Lease l, impl_->lease());
    std::optional<Error> lastError;
    for (const RegistryEndpoint& endpoint : impl_->transport.endpoints(ref)) {
      HttpRequest request;
      request.url = fmt::format("/v2/{}/blobs/{}", ref.repository, blob.digest);
      request.maxBodyBytes = static_cast<size_t>(blob.size) + 1;
      auto response = impl_->transport.send(*l.session, endpoint, ref, request);
      Result<std::string> result = Error("");
      if (!response.ok()) {
        result = std::move(response).error();
      } else if (response->status != 200) {
        result = registryStatusError(*response, "blob");
      } else if (static_cast<int64_t>(response->body.size()) != blob.size) {
        result = Error(fmt::format("{}: got {} bytes, expected {}",
                                   static_cast<int64_t>(response->body.size()) < blob.size
                                       ? "truncated blob"
                                       : "blob size mismatch",
                                   response->body.size(), blob.size));
      } else if (Status ok = image::verifyDigest(blob.digest, response->body); !ok.ok()) {
        result = std::move(ok).error();
      } else {
        result = std::move(response->body);
      }
      if (result.ok() || !endpoint.mirror)
        return result;
      impl_->log().verbose("mirror {}: {}; trying the next source", endpoint.host,
                           result.error().message());
    }
    return Error("no registry endpoint");
  };
  return run().withContext(fmt::format("fetch blob {} of `{}`", blob.digest, ref.toString()));
}

}  // namespace berth::registry
