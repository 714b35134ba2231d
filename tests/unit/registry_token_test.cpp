// Token authentication as Docker Hub and ghcr.io do it (issue 14): tokens per repository,
// renewed before they expire and when the registry refuses one, a scope the token service does
// not grant as one clear line. Against a scripted registry + token service on loopback.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "shared/registry/registry_transport.hpp"
#include "tests/unit/http_test_server.hpp"

using namespace berth;
using namespace berth::registry;
using berth::testing::HttpTestServer;
using berth::testing::TestRequest;
using berth::testing::TestResponse;

namespace {

// A registry that is its own token service (realm http://HOST/token). Tokens are "t1", "t2",
// ...; the registry accepts only tokens it has not revoked and that have not expired, and only
// for repositories the user may pull.
class FakeTokenRegistry {
 public:
  int expiresIn = 300;           // what the token service says
  double validSeconds = 300;     // how long the registry accepts a token
  std::set<std::string> denied;  // repositories nobody may pull
  bool revokeAfterUse = false;   // each token works once (a revoked token)

  FakeTokenRegistry() : server_([this](const TestRequest& r) { return handle(r); }) {}
  std::string host() const { return server_.host(); }
  std::vector<TestRequest> requests() const { return server_.requests(); }
  // "TOKEN" and "GET /v2/..." lines with the token each registry request carried.
  std::vector<std::string> trace() const {
    std::lock_guard lock(mutex_);
    return trace_;
  }

 private:
  TestResponse handle(const TestRequest& request) {
    std::lock_guard lock(mutex_);
    auto now = std::chrono::steady_clock::now();
    if (request.target.starts_with("/token?")) {
      std::string token = fmt::format("t{}", ++issued_);
      trace_.push_back("TOKEN " + request.target.substr(request.target.find("scope=")));
      if (request.header("authorization") != "Basic dTpwdw==")  // u:pw
        return {401, {}, R"({"details":"incorrect username or password"})"};
      size_t name = request.target.find("repository%3A") + 13;
      std::string repository = request.target.substr(name, request.target.find("%3A", name) - name);
      for (size_t slash; (slash = repository.find("%2F")) != std::string::npos;)
        repository.replace(slash, 3, "/");
      if (!denied.contains(repository))
        valid_[token] = now + std::chrono::milliseconds(static_cast<int>(validSeconds * 1000));
      return {200, {}, fmt::format(R"({{"token":"{}","expires_in":{}}})", token, expiresIn)};
    }
    std::string auth = request.header("authorization");
    trace_.push_back(fmt::format("{} {} {}", request.method, request.target,
                                 auth.empty() ? "-" : auth.substr(7)));
    std::string repository = request.target.substr(4, request.target.find("/manifests") - 4);
    std::string challenge =
        fmt::format(R"(Bearer realm="http://{}/token",service="fake",scope="repository:{}:pull")",
                    server_.host(), repository);
    if (auth.empty())
      return {401, {{"WWW-Authenticate", challenge}}, ""};
    auto it = valid_.find(auth.substr(7));
    if (it == valid_.end()) {
      bool known = std::stoi(auth.substr(8)) <= issued_;
      return {401,
              {{"WWW-Authenticate",
                challenge + (known && denied.contains(repository) ? R"(,error="insufficient_scope")"
                                                                  : R"(,error="invalid_token")")}},
              R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})"};
    }
    if (now > it->second) {
      valid_.erase(it);
      return {401, {{"WWW-Authenticate", challenge + R"(,error="invalid_token")"}}, ""};
    }
    if (revokeAfterUse)
      valid_.erase(it);
    return {200, {{"Content-Type", "text/plain"}}, "manifest of " + repository};
  }

  mutable std::mutex mutex_;
  int issued_ = 0;
  std::map<std::string, std::chrono::steady_clock::time_point> valid_;
  std::vector<std::string> trace_;
  HttpTestServer server_;  // last: its thread starts once the rest exists
};

EnvLookup credentials() {
  return [](std::string_view name) -> std::optional<std::string> {
    if (name == "BERTH_REGISTRY_USER")
      return std::string("u");
    if (name == "BERTH_REGISTRY_PASSWORD")
      return std::string("pw");
    return std::nullopt;
  };
}

struct Client {
  RegistryTransport transport;
  HttpSession session;
  explicit Client(const FakeTokenRegistry& registry)
      : transport(
            [&] {
              TransportOptions options;
              options.insecureRegistries = {registry.host()};
              options.retries = 0;
              return options;
            }(),
            CredentialStore(credentials(), "/nonexistent", "/nonexistent"), {}),
        session(std::move(HttpSession::create()).value()) {}

  Result<HttpResponse> get(const std::string& reference) {
    auto ref = image::parseImageReference(reference);
    REQUIRE(ref.ok());
    HttpRequest request;
    request.url = fmt::format("/v2/{}/manifests/latest", ref->repository);
    return transport.send(session, transport.endpoints(*ref).back(), *ref, request);
  }
};

}  // namespace

TEST_CASE("tokens: one per repository, asked for with that repository's pull scope") {
  FakeTokenRegistry registry;
  Client client(registry);
  auto a = client.get(registry.host() + "/team/a");
  REQUIRE(a.ok());
  CHECK(a->body == "manifest of team/a");
  auto b = client.get(registry.host() + "/team/b");
  REQUIRE(b.ok());
  auto again = client.get(registry.host() + "/team/a");
  REQUIRE(again.ok());
  // One 401 for the host; then each new repository gets its token first, and a held token is
  // reused. The password goes to the token service only.
  CHECK(registry.trace() ==
        std::vector<std::string>{
            "GET /v2/team/a/manifests/latest -", "TOKEN scope=repository%3Ateam%2Fa%3Apull",
            "GET /v2/team/a/manifests/latest t1", "TOKEN scope=repository%3Ateam%2Fb%3Apull",
            "GET /v2/team/b/manifests/latest t2", "GET /v2/team/a/manifests/latest t1"});
}

TEST_CASE("tokens: renewed before they expire, without a refused request") {
  FakeTokenRegistry registry;
  registry.expiresIn = 1;
  registry.validSeconds = 1;
  Client client(registry);
  REQUIRE(client.get(registry.host() + "/r").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(950));  // renewed after 0.9 s
  auto later = client.get(registry.host() + "/r");
  REQUIRE(later.ok());
  CHECK(later->status == 200);
  CHECK(registry.trace() == std::vector<std::string>{"GET /v2/r/manifests/latest -",
                                                     "TOKEN scope=repository%3Ar%3Apull",
                                                     "GET /v2/r/manifests/latest t1",
                                                     "TOKEN scope=repository%3Ar%3Apull",
                                                     "GET /v2/r/manifests/latest t2"});
}

TEST_CASE("tokens: one the registry refuses (revoked, clocks apart) is replaced once") {
  FakeTokenRegistry registry;
  registry.revokeAfterUse = true;  // expires_in says 300 s; the registry disagrees
  Client client(registry);
  REQUIRE(client.get(registry.host() + "/r").ok());
  auto later = client.get(registry.host() + "/r");
  REQUIRE(later.ok());
  CHECK(later->status == 200);
  CHECK(registry.trace() == std::vector<std::string>{
                                "GET /v2/r/manifests/latest -", "TOKEN scope=repository%3Ar%3Apull",
                                "GET /v2/r/manifests/latest t1", "GET /v2/r/manifests/latest t1",
                                "TOKEN scope=repository%3Ar%3Apull",
                                "GET /v2/r/manifests/latest t2"});
}

TEST_CASE("tokens: a scope the token service does not grant is one line, asked once") {
  FakeTokenRegistry registry;
  registry.denied = {"private/x"};
  Client client(registry);
  auto denied = client.get(registry.host() + "/private/x");
  REQUIRE_FALSE(denied.ok());
  CHECK(denied.error().message() ==
        fmt::format("registry {}: the credentials from environment (user u) may not pull "
                    "private/x (HTTP 401 insufficient_scope: no such repository, or no access)",
                    registry.host()));
  CHECK(registry.trace().size() == 3);  // the 401, one token, the refused request
  // Another repository of the same registry is not affected.
  CHECK(client.get(registry.host() + "/public/y").ok());
}
