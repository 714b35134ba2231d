// RegistryTransport: one authenticated, retried request to a registry endpoint. It knows the
// registry HTTP API's mechanics (WWW-Authenticate challenges, Bearer tokens per
// repository, Basic, plain HTTP only for insecure registries, mirrors, backoff) and nothing of
// manifests or blobs; RegistryClient builds on it. Thread-safe: its caches are locked.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "shared/core/log.hpp"
#include "shared/core/result.hpp"
#include "shared/image/reference.hpp"
#include "shared/registry/auth.hpp"
#include "shared/registry/credentials.hpp"
#include "shared/registry/http.hpp"

namespace berth::registry {

struct RegistryEndpoint {
  std::string host;        // host[:port]
  std::string registry;    // the registry name credentials are looked up under
  bool plainHttp = false;  // insecure registry: http://
  bool mirror = false;

  std::string baseUrl() const;  // "https://host"
};

struct TransportOptions {
  std::set<std::string> insecureRegistries;  // normalised host[:port]
  std::map<std::string, std::vector<std::string>> mirrors;
  int retries = 4;
  std::chrono::milliseconds backoffBase{500};
  CancelCheck cancelled;  // every request and backoff pause stops when it says so
  // The CAs trusted for HTTPS (trustBundle(): the system's plus registry_ca_file and
  // BERTH_REGISTRY_CA_FILE); null: libcurl's default store.
  std::shared_ptr<const std::string> caBundle;
};

// BERTH_INSECURE_REGISTRIES=host:port,... plus `configured`, normalised.
std::set<std::string> insecureRegistrySet(const std::vector<std::string>& configured,
                                          const EnvLookup& env);

// A registry's `{"errors":[{"code":..,"message":..}]}` body as "message" (or "" if none).
std::string registryErrorMessage(std::string_view body);

class RegistryTransport {
 public:
  RegistryTransport(TransportOptions options, CredentialStore credentials, Logger log);

  // Mirrors of ref.registry first (in configured order), then the registry itself.
  std::vector<RegistryEndpoint> endpoints(const image::ImageReference& ref) const;

  // Sends `request` (its url is a path like "/v2/NAME/manifests/TAG") to `endpoint` for ref's
  // repository: authenticates on 401, retries 429/5xx/connection errors with exponential
  // backoff while no body byte reached `sink`. Returns the final response (any status but 401);
  // errors for unreachable registries and failed authentication. Bearer tokens are kept per
  // host and repository and renewed shortly before the token service said they expire, or
  // when the registry refuses one (401 invalid_token). The Authorization header goes to the
  // registry only: a redirect to another host (blob storage) is followed without it.
  // Untrusted certificates and refused redirects are not retried.
  Result<HttpResponse> send(HttpSession& session, const RegistryEndpoint& endpoint,
                            const image::ImageReference& ref, HttpRequest request,
                            const BodySink& sink = nullptr);

  // The token scopes asked for `repository` from now on instead of its pull scope (a push:
  // "repository:NAME:pull,push" and "repository:SOURCE:pull" for each repository it mounts
  // from). A token already held for it is forgotten.
  void setScopes(const std::string& repository, std::vector<std::string> scopes);

  const Logger& log() const { return log_; }
  int retries() const { return options_.retries; }
  // Sleeps before retry `attempt` (cut short by a cancellation).
  void backoff(int attempt, const HttpResponse* response) const;
  const CancelCheck& cancelled() const { return options_.cancelled; }
  // For requests sent without send() (upload locations and foreign URLs on other hosts).
  const std::shared_ptr<const std::string>& caBundle() const { return options_.caBundle; }

 private:
  std::optional<AuthChallenge> knownChallenge(const std::string& host);
  Status authenticate(HttpSession& session, const RegistryEndpoint& endpoint,
                      const image::ImageReference& ref, const AuthChallenge& challenge);
  std::string cachedAuthorization(const std::string& key);
  std::vector<std::string> scopesFor(const std::string& repository);
  Result<HttpResponse> performWithRetries(HttpSession& session, HttpRequest request,
                                          const BodySink& sink, const std::string& what);

  TransportOptions options_;
  CredentialStore credentials_;
  Logger log_;
  std::mutex mutex_;
  std::map<std::string, AuthChallenge> challenges_;  // host -> its 401 challenge
  struct CachedAuthorization {
    std::string header;  // "Bearer ..." or "Basic ..."
    // Past this, the token is asked for again before the next request (Basic: never).
    std::chrono::steady_clock::time_point renewAfter;
  };
  std::map<std::string, CachedAuthorization> authorization_;  // host+repo -> header
  std::map<std::string, std::vector<std::string>> scopes_;    // repo -> token scopes (not pull)
};

}  // namespace berth::registry
