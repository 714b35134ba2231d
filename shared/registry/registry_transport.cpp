#include "shared/registry/registry_transport.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shared/core/strings.hpp"
#include "shared/registry/tls_trust.hpp"

namespace berth::registry {

namespace {

constexpr std::string_view kInsecureVar = "BERTH_INSECURE_REGISTRIES";
constexpr std::chrono::milliseconds kMaxBackoff{30000};

// Statuses worth another try: the registry is overloaded or failing for now.
bool isTransientStatus(long status) {
  return status == 429 || status == 502 || status == 503 || status == 504 || status == 500;
}

std::string authKey(const RegistryEndpoint& endpoint, const image::ImageReference& ref) {
  return endpoint.host + " " + ref.repository;
}

bool isTlsFailure(HttpFailure failure) {
  return failure == HttpFailure::kTlsUntrusted || failure == HttpFailure::kTlsHostMismatch;
}

bool isPermanent(HttpFailure failure) {
  return isTlsFailure(failure) || failure == HttpFailure::kRedirectRefused;
}

// A token is renewed this long before the token service says it expires (a tenth of its
// lifetime, within 1..10 s, and at most half of it): a request never leaves with a token about
// to die on its way.
std::chrono::steady_clock::time_point renewalTime(int64_t expiresInSeconds) {
  using std::chrono::milliseconds;
  milliseconds lifetime(expiresInSeconds * 1000);
  milliseconds margin =
      std::clamp<milliseconds>(lifetime / 10, std::chrono::seconds(1), std::chrono::seconds(10));
  return std::chrono::steady_clock::now() + lifetime - std::min(margin, lifetime / 2);
}

}  // namespace

std::string RegistryEndpoint::baseUrl() const {
  return fmt::format("{}://{}", plainHttp ? "http" : "https", host);
}

std::set<std::string> insecureRegistrySet(const std::vector<std::string>& configured,
                                          const EnvLookup& env) {
  std::set<std::string> out;
  std::vector<std::string> all = configured;
  if (auto value = env(kInsecureVar)) {
    for (const std::string& item : split(*value, ','))
      all.push_back(item);
  }
  for (const std::string& item : all) {
    if (trim(item).empty())
      continue;
    if (auto name = image::normalizeRegistryName(item); name.ok())
      out.insert(*name);
  }
  return out;
}

std::string registryErrorMessage(std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return {};
  auto errors = doc.find("errors");
  if (errors == doc.end() || !errors->is_array() || errors->empty())
    return {};
  const auto& first = (*errors)[0];
  if (!first.is_object())
    return {};
  auto message = first.find("message");
  if (message != first.end() && message->is_string() && !message->get<std::string>().empty())
    return message->get<std::string>();
  auto code = first.find("code");
  if (code != first.end() && code->is_string())
    return code->get<std::string>();
  return {};
}

RegistryTransport::RegistryTransport(TransportOptions options, CredentialStore credentials,
                                     Logger log)
    : options_(std::move(options)), credentials_(std::move(credentials)), log_(std::move(log)) {}

std::vector<RegistryEndpoint> RegistryTransport::endpoints(const image::ImageReference& ref) const {
  std::vector<RegistryEndpoint> out;
  if (auto it = options_.mirrors.find(ref.registry); it != options_.mirrors.end()) {
    for (const std::string& mirror : it->second) {
      std::string_view text = trim(mirror);
      bool plain = text.starts_with("http://");
      auto host = image::normalizeRegistryName(text);
      if (!host.ok()) {
        log_.warning("ignoring mirror `{}` of {}: {}", mirror, ref.registry,
                     host.error().message());
        continue;
      }
      plain = plain || options_.insecureRegistries.contains(*host);
      out.push_back(RegistryEndpoint{*host, *host, plain, true});
    }
  }
  std::string api = ref.apiEndpoint();
  bool plain = options_.insecureRegistries.contains(ref.registry) ||
               options_.insecureRegistries.contains(api);
  out.push_back(RegistryEndpoint{api, ref.registry, plain, false});
  return out;
}

void RegistryTransport::backoff(int attempt, const HttpResponse* response) const {
  auto delay = options_.backoffBase * (1 << std::min(attempt, 10));
  if (response != nullptr) {
    // Retry-After in seconds, as registries send it with 429 and 503.
    std::string retryAfter = response->header("retry-after");
    if (!retryAfter.empty() && std::all_of(retryAfter.begin(), retryAfter.end(), ::isdigit))
      delay = std::max<std::chrono::milliseconds>(
          delay, std::chrono::seconds(std::min(std::stol(retryAfter.substr(0, 6)), 60L)));
  }
  (void)sleepUnlessCancelled(std::min<std::chrono::milliseconds>(delay, kMaxBackoff),
                             options_.cancelled);
}

Result<HttpResponse> RegistryTransport::performWithRetries(HttpSession& session,
                                                           HttpRequest request,
                                                           const BodySink& sink,
                                                           const std::string& what) {
  bool delivered = false;
  BodySink tracking;
  if (sink) {
    tracking = [&](long status, std::string_view chunk) {
      delivered = true;
      return sink(status, chunk);
    };
  }
  request.cancelled = options_.cancelled;
  for (int attempt = 0;; ++attempt) {
    auto response = session.perform(request, tracking);
    bool last = attempt >= options_.retries || !request.retry || delivered ||
                isCancelled(options_.cancelled);
    if (!response.ok()) {
      // An untrusted certificate or a refused redirect is the same on the next try.
      if (last || isCancellation(response.error()) || isPermanent(session.lastFailure()))
        return isTlsFailure(session.lastFailure()) ? std::move(response).error()
                                                   : response.error().withContext(what);
      log_.verbose("{}: {}; retrying", what, response.error().message());
      backoff(attempt, nullptr);
      continue;
    }
    if ((isTransientStatus(response->status) || response->truncated) && !last) {
      log_.verbose("{}: HTTP {}; retrying", what, response->status);
      backoff(attempt, &*response);
      continue;
    }
    return response;
  }
}

namespace {

// A registry that cannot be reached over TLS may be one that serves plain HTTP: say how to
// mark it insecure. A certificate signed by a CA berth does not know: say how to trust it.
Error withTlsHint(Error error, const RegistryEndpoint& endpoint, HttpFailure failure) {
  if (failure == HttpFailure::kTlsUntrusted) {
    const std::string& text = error.message();
    if (text.find("expired") != std::string::npos ||
        text.find("not yet valid") != std::string::npos)
      return error;
    return Error(
        fmt::format("{}; if a private CA signed it, set registry_ca_file in berth.conf "
                    "or {} to that CA's certificate",
                    text, kCaFileVariable));
  }
  if (failure == HttpFailure::kTlsHostMismatch)
    return error;
  if (endpoint.plainHttp || error.message().find("SSL") == std::string::npos)
    return error;
  return Error(
      fmt::format("{} (if {} serves plain HTTP, mark it insecure: "
                  "BERTH_INSECURE_REGISTRIES={})",
                  error.message(), endpoint.host, endpoint.host));
}

// "pull REPO" or "push to REPO", from a 401's scope ("repository:NAME:pull,push").
std::string deniedAction(std::string_view scope, std::string_view repository) {
  std::string_view first = scope.substr(0, scope.find(' '));
  std::string name(repository);
  std::string_view actions = "pull";
  if (first.starts_with("repository:")) {
    std::string_view rest = first.substr(std::string_view("repository:").size());
    if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
      name = std::string(rest.substr(0, colon));
      actions = rest.substr(colon + 1);
    }
  }
  bool push = actions.find("push") != std::string_view::npos;
  return fmt::format("{} {}", push ? "push to" : "pull", name);
}

}  // namespace

std::optional<AuthChallenge> RegistryTransport::knownChallenge(const std::string& host) {
  std::lock_guard lock(mutex_);
  auto it = challenges_.find(host);
  return it == challenges_.end() ? std::nullopt : std::optional<AuthChallenge>(it->second);
}

Status RegistryTransport::authenticate(HttpSession& session, const RegistryEndpoint& endpoint,
                                       const image::ImageReference& ref,
                                       const AuthChallenge& challenge) {
  BERTH_ASSIGN(auto credentials, credentials_.lookup(endpoint.registry, ref.user));
  std::string who = credentials ? fmt::format("the credentials from {}", credentials->source)
                                : std::string("anonymous access");
  std::string header;
  auto renewAfter = std::chrono::steady_clock::time_point::max();  // Basic: never
  if (challenge.scheme == "basic") {
    if (!credentials)
      return Error(
          fmt::format("registry {} requires credentials (none found; see `berth login {}`)",
                      endpoint.registry, endpoint.registry));
    BERTH_ASSIGN(header, basicAuthorization(credentials->username, credentials->password));
  } else if (challenge.scheme == "bearer") {
    BERTH_ASSIGN(std::string url, tokenUrl(challenge, scopesFor(ref.repository))
                                      .withContext(fmt::format("registry {}", endpoint.host)));
    // Credentials travel in clear text only to a registry the user marked insecure.
    if (url.starts_with("http://") && !endpoint.plainHttp)
      return Error(fmt::format("registry {}: token realm `{}` is not https", endpoint.host, url));
    HttpRequest request;
    request.url = url;
    request.maxBodyBytes = 1 << 20;
    request.allowPlainHttpRedirects = endpoint.plainHttp;
    request.caBundle = options_.caBundle;
    if (credentials) {
      // Only to the realm's own origin: not to a host the token service redirects to.
      BERTH_ASSIGN(request.authorization,
                   basicAuthorization(credentials->username, credentials->password));
    }
    auto fetched =
        performWithRetries(session, request, nullptr,
                           fmt::format("cannot reach the token service of {}", endpoint.registry));
    if (!fetched.ok())
      return withTlsHint(std::move(fetched).error(), endpoint, session.lastFailure())
          .withContext(fmt::format("token service of {}", endpoint.registry));
    HttpResponse response = std::move(fetched).value();
    if (response.status == 401 || response.status == 403)
      return Error(fmt::format("registry {} refused {} to {} (token service: HTTP {}): {}",
                               endpoint.registry, who, ref.repository, response.status,
                               credentials
                                   ? "wrong user name or password, or no access"
                                   : "log in with `berth login " + endpoint.registry + "`"));
    if (response.status != 200)
      return Error(
          fmt::format("token service of {} answered HTTP {}", endpoint.registry, response.status));
    BERTH_ASSIGN(
        BearerToken token,
        parseTokenResponse(response.body).withContext(fmt::format("registry {}", endpoint.host)));
    header = "Bearer " + token.token;
    renewAfter = renewalTime(token.expiresInSeconds);
  } else {
    return Error(fmt::format("registry {} asks for unsupported authentication scheme `{}`",
                             endpoint.host, challenge.scheme));
  }
  log_.debug("authenticated to {} for {} with {}", endpoint.host, ref.repository, who);
  std::lock_guard lock(mutex_);
  authorization_[authKey(endpoint, ref)] = CachedAuthorization{std::move(header), renewAfter};
  return {};
}

void RegistryTransport::setScopes(const std::string& repository, std::vector<std::string> scopes) {
  std::lock_guard lock(mutex_);
  scopes_[repository] = std::move(scopes);
  std::erase_if(authorization_,
                [&](const auto& entry) { return entry.first.ends_with(" " + repository); });
}

std::vector<std::string> RegistryTransport::scopesFor(const std::string& repository) {
  std::lock_guard lock(mutex_);
  auto it = scopes_.find(repository);
  if (it != scopes_.end())
    return it->second;
  return {fmt::format("repository:{}:pull", repository)};
}

std::string RegistryTransport::cachedAuthorization(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = authorization_.find(key);
  if (it == authorization_.end())
    return {};
  if (std::chrono::steady_clock::now() >= it->second.renewAfter) {
    // Expired (or about to): the next request asks the token service for a new one first.
    log_.debug("token for {} expired: renewing it", key);
    authorization_.erase(it);
    return {};
  }
  return it->second.header;
}

Result<HttpResponse> RegistryTransport::send(HttpSession& session, const RegistryEndpoint& endpoint,
                                             const image::ImageReference& ref, HttpRequest request,
                                             const BodySink& sink) {
  // No /v2/ ping first: the request itself says whether the registry wants authentication
  // (one round trip less per pull and per srun pinning a tag). Once a host has answered 401,
  // each new repository gets its token before its first request, and an expired token is
  // renewed before the request that would be refused with it.
  std::string key = authKey(endpoint, ref);
  std::string path = request.url;
  request.url = endpoint.baseUrl() + path;
  request.allowPlainHttpRedirects = endpoint.plainHttp;
  request.caBundle = options_.caBundle;
  bool renewed = false;  // a token fetched for this very request
  for (int authAttempt = 0;; ++authAttempt) {
    request.authorization = cachedAuthorization(key);
    if (request.authorization.empty() && knownChallenge(endpoint.host)) {
      // The token expired since the check above (or a 401 made us drop it): renew it now.
      BERTH_TRY(authenticate(session, endpoint, ref, *knownChallenge(endpoint.host)));
      request.authorization = cachedAuthorization(key);
      renewed = true;
    }
    auto sent = performWithRetries(session, request, sink,
                                   fmt::format("cannot reach registry {}", endpoint.host));
    if (!sent.ok())
      return withTlsHint(std::move(sent).error(), endpoint, session.lastFailure());
    HttpResponse response = std::move(sent).value();
    if (response.status != 401)
      return response;
    // A token expired or was revoked (error="invalid_token"), or the request needs a scope
    // the token lacks: authenticate once more, then give up.
    std::string header = response.header("www-authenticate");
    std::optional<AuthChallenge> challenge;
    if (!header.empty()) {
      BERTH_ASSIGN(auto challenges, parseWwwAuthenticate(header).withContext(
                                        fmt::format("registry {}", endpoint.host)));
      challenge = challenges.front();
    }
    bool insufficientScope = challenge && challenge->param("error") == "insufficient_scope";
    if (authAttempt > 0 || !challenge || (insufficientScope && renewed)) {
      BERTH_ASSIGN(auto credentials, credentials_.lookup(endpoint.registry, ref.user));
      std::string who = credentials ? fmt::format("the credentials from {} (user {})",
                                                  credentials->source, credentials->username)
                                    : std::string("anonymous access");
      if (insufficientScope)
        return Error(fmt::format(
            "registry {}: {} may not {} (HTTP 401 insufficient_scope: {})", endpoint.registry, who,
            deniedAction(challenge->param("scope"), ref.repository),
            credentials
                ? "no such repository, or no access"
                : "no such repository, or it needs `berth login " + endpoint.registry + "`"));
      return Error(
          fmt::format("registry {} refused {} (HTTP 401 unauthorized): {}", endpoint.registry,
                      credentials ? "the credentials from " + credentials->source
                                  : std::string("anonymous access"),
                      credentials ? "wrong user name or password, or no access"
                                  : "log in with `berth login " + endpoint.registry + "`"));
    }
    log_.debug("registry {} refused the token for {} ({}): asking for a new one", endpoint.host,
               ref.repository,
               challenge->param("error").empty() ? "no error given" : challenge->param("error"));
    {
      std::lock_guard lock(mutex_);
      challenges_[endpoint.host] = *challenge;
      authorization_.erase(key);
    }
    BERTH_TRY(authenticate(session, endpoint, ref, *challenge));
    renewed = true;
  }
}

}  // namespace berth::registry
