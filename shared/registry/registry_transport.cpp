#include "shared/registry/registry_transport.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shared/core/strings.hpp"

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
      if (last || isCancellation(response.error()))
        return response.error().withContext(what);
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
// mark it insecure.
Error withTlsHint(Error error, const RegistryEndpoint& endpoint) {
  if (endpoint.plainHttp || error.message().find("SSL") == std::string::npos)
    return error;
  return Error(
      fmt::format("{} (if {} serves plain HTTP, mark it insecure: "
                  "BERTH_INSECURE_REGISTRIES={})",
                  error.message(), endpoint.host, endpoint.host));
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
    if (credentials) {
      BERTH_ASSIGN(std::string basic,
                   basicAuthorization(credentials->username, credentials->password));
      request.headers.push_back("Authorization: " + basic);
    }
    BERTH_ASSIGN(
        HttpResponse response,
        performWithRetries(session, request, nullptr,
                           fmt::format("cannot reach the token service of {}", endpoint.registry)));
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
  } else {
    return Error(fmt::format("registry {} asks for unsupported authentication scheme `{}`",
                             endpoint.host, challenge.scheme));
  }
  log_.debug("authenticated to {} for {} with {}", endpoint.host, ref.repository, who);
  std::lock_guard lock(mutex_);
  authorization_[authKey(endpoint, ref)] = std::move(header);
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
  return it == authorization_.end() ? std::string() : it->second;
}

Result<HttpResponse> RegistryTransport::send(HttpSession& session, const RegistryEndpoint& endpoint,
                                             const image::ImageReference& ref, HttpRequest request,
                                             const BodySink& sink) {
  // No /v2/ ping first: the request itself says whether the registry wants authentication
  // (one round trip less per pull and per srun pinning a tag). Once a host has answered 401,
  // each new repository gets its token before its first request.
  std::string key = authKey(endpoint, ref);
  if (auto challenge = knownChallenge(endpoint.host); challenge && cachedAuthorization(key).empty())
    BERTH_TRY(authenticate(session, endpoint, ref, *challenge));

  std::string path = request.url;
  request.url = endpoint.baseUrl() + path;
  request.allowPlainHttpRedirects = endpoint.plainHttp;
  std::vector<std::string> baseHeaders = request.headers;
  for (int authAttempt = 0;; ++authAttempt) {
    request.headers = baseHeaders;
    if (std::string auth = cachedAuthorization(key); !auth.empty())
      request.headers.push_back("Authorization: " + auth);
    auto sent = performWithRetries(session, request, sink,
                                   fmt::format("cannot reach registry {}", endpoint.host));
    if (!sent.ok())
      return withTlsHint(std::move(sent).error(), endpoint);
    HttpResponse response = std::move(sent).value();
    if (response.status != 401)
      return response;
    // A token expired, or the scope needs a new one: authenticate once more, then give up.
    std::string header = response.header("www-authenticate");
    if (authAttempt > 0 || header.empty()) {
      BERTH_ASSIGN(auto credentials, credentials_.lookup(endpoint.registry, ref.user));
      return Error(
          fmt::format("registry {} refused {} (HTTP 401 unauthorized): {}", endpoint.registry,
                      credentials ? "the credentials from " + credentials->source
                                  : std::string("anonymous access"),
                      credentials ? "wrong user name or password, or no access"
                                  : "log in with `berth login " + endpoint.registry + "`"));
    }
    BERTH_ASSIGN(auto challenges, parseWwwAuthenticate(header).withContext(
                                      fmt::format("registry {}", endpoint.host)));
    {
      std::lock_guard lock(mutex_);
      challenges_[endpoint.host] = challenges.front();
    }
    BERTH_TRY(authenticate(session, endpoint, ref, challenges.front()));
  }
}

}  // namespace berth::registry
