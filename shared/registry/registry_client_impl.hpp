// The inside of RegistryClient, shared by registry_client.cpp (manifests, small blobs) and
// registry_blobs.cpp (streamed, resumable, parallel blob downloads). Not for other callers.
#pragma once

#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "shared/registry/http.hpp"
#include "shared/registry/registry_client.hpp"
#include "shared/registry/registry_transport.hpp"

namespace berth::registry {

struct FetchedManifest {
  std::string body;
  std::string digest;
  std::string contentType;
};

struct RegistryClient::Impl {
  RegistryOptions options;
  RegistryTransport transport;
  std::mutex poolMutex;
  std::vector<HttpSession> pool;  // idle sessions, reused for their connections
  std::mutex progressMutex;

  Impl(RegistryOptions o, TransportOptions t, CredentialStore credentials, Logger log)
      : options(std::move(o)), transport(std::move(t), std::move(credentials), std::move(log)) {}

  const Logger& log() const { return transport.log(); }

  // A session from the pool, returned to it when the lease ends.
  struct Lease {
    Impl* impl;
    std::optional<HttpSession> session;
    Lease(Impl* owner, HttpSession s) : impl(owner), session(std::move(s)) {}
    Lease(Lease&& other) noexcept
        : impl(other.impl), session(std::exchange(other.session, std::nullopt)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (session) {
        std::lock_guard lock(impl->poolMutex);
        impl->pool.push_back(std::move(*session));
      }
    }
  };
  Result<Lease> lease() {
    {
      std::lock_guard lock(poolMutex);
      if (!pool.empty()) {
        Lease l(this, std::move(pool.back()));
        pool.pop_back();
        return l;
      }
    }
    BERTH_ASSIGN(HttpSession session, HttpSession::create());
    return Lease(this, std::move(session));
  }

  Result<FetchedManifest> fetchManifest(const image::ImageReference& ref,
                                        const std::string& reference);
  Status download(const image::ImageReference& ref, const image::Descriptor& blob,
                  const std::filesystem::path& dest, const ProgressFn& progress);
  // Sends a blob request to one source (a registry endpoint or a foreign URL).
  using BlobSender = std::function<Result<HttpResponse>(HttpRequest, const BodySink&)>;
  Status downloadFrom(const BlobSender& send, const image::Descriptor& blob,
                      const std::filesystem::path& partial, const ProgressFn& progress);
};

// "manifest unknown (HTTP 404)" from a failed response, preferring the registry's own words.
Error registryStatusError(const HttpResponse& response, std::string_view what);

}  // namespace berth::registry
