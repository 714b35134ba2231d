// Redirects (issue 14): a registry backed by object storage answers blob GETs with a redirect
// to another host; the HTTP layer follows it hop by hop and sends the Authorization header
// only to the origin the request was addressed to.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include "shared/registry/http.hpp"
#include "tests/unit/http_test_server.hpp"

using namespace berth;
using namespace berth::registry;
using berth::testing::HttpTestServer;
using berth::testing::TestRequest;
using berth::testing::TestResponse;

TEST_CASE("urlOrigin: scheme, lowercased host and explicit port -- userinfo and path dropped") {
  CHECK(urlOrigin("https://Reg.Example/v2/") == "https://reg.example:443");
  CHECK(urlOrigin("https://reg.example:443/x?y") == "https://reg.example:443");
  CHECK(urlOrigin("HTTP://reg.example") == "http://reg.example:80");
  CHECK(urlOrigin("http://127.0.0.1:5000/v2/x/blobs/sha256:00") == "http://127.0.0.1:5000");
  CHECK(urlOrigin("https://user:pw@s3.example:8443/b?sig=1") == "https://s3.example:8443");
  CHECK(urlOrigin("https://[::1]:5000/v2/") == "https://[::1]:5000");
  CHECK(urlOrigin("https://[::1]/v2/") == "https://[::1]:443");
  // Another port, another scheme: another origin.
  CHECK(urlOrigin("https://reg.example:5000/") != urlOrigin("https://reg.example/"));
  CHECK(urlOrigin("http://reg.example/") != urlOrigin("https://reg.example/"));
  CHECK(urlOrigin("file:///etc/passwd").empty());
  CHECK(urlOrigin("reg.example/v2/").empty());
  CHECK(urlHost("https://reg.example:5443/v2/") == "reg.example:5443");
  CHECK(urlHost("https://u@reg.example/v2/") == "reg.example");
}

namespace {

// The "blob storage": answers 200 (or 206 for a Range) with a fixed body.
TestResponse storage(const TestRequest& request) {
  std::string body = "0123456789";
  if (request.header("range") == "bytes=4-")
    return {206, {{"Content-Range", "bytes 4-9/10"}}, body.substr(4)};
  return {200, {}, body};
}

}  // namespace

TEST_CASE("a redirect to another host is followed without the Authorization header") {
  HttpTestServer store(storage);
  HttpTestServer registry([&](const TestRequest& request) -> TestResponse {
    if (request.target.starts_with("/v2/x/blobs/"))
      return {307, {{"Location", store.url("/bucket/blob?X-Amz-Signature=abc")}}, ""};
    return {404, {}, ""};
  });
  auto session = HttpSession::create();
  REQUIRE(session.ok());
  HttpRequest request;
  request.url = registry.url("/v2/x/blobs/sha256:00");
  request.authorization = "Bearer registry-secret";
  request.headers.push_back("Accept: */*");
  request.allowPlainHttpRedirects = true;
  std::string received;
  auto response = session->perform(request, [&](long status, std::string_view chunk) {
    CHECK(status == 200);
    received.append(chunk);
    return true;
  });
  REQUIRE(response.ok());
  CHECK(response->status == 200);
  CHECK(received == "0123456789");
  CHECK(response->effectiveUrl == store.url("/bucket/blob?X-Amz-Signature=abc"));

  auto atRegistry = registry.requests();
  REQUIRE(atRegistry.size() == 1);
  CHECK(atRegistry[0].header("authorization") == "Bearer registry-secret");
  auto atStore = store.requests();
  REQUIRE(atStore.size() == 1);
  CHECK(atStore[0].target == "/bucket/blob?X-Amz-Signature=abc");
  CHECK_FALSE(atStore[0].has("authorization"));
  CHECK(atStore[0].header("accept") == "*/*");  // other headers travel on

  SUBCASE("a resumed download keeps its Range at the storage") {
    request.rangeFrom = 4;
    received.clear();
    auto resumed = session->perform(request, [&](long status, std::string_view chunk) {
      CHECK(status == 206);
      received.append(chunk);
      return true;
    });
    REQUIRE(resumed.ok());
    CHECK(resumed->status == 206);
    CHECK(received == "456789");
    CHECK(store.requests().back().header("range") == "bytes=4-");
    CHECK_FALSE(store.requests().back().has("authorization"));
  }
}

TEST_CASE("a redirect within the origin keeps the Authorization header -- relative Locations") {
  HttpTestServer registry([&](const TestRequest& request) -> TestResponse {
    if (request.target == "/v2/x/blobs/sha256:00")
      return {302, {{"Location", "/storage/00"}}, ""};
    if (request.target == "/storage/00")
      return {200, {}, "blob"};
    return {404, {}, ""};
  });
  auto session = HttpSession::create();
  REQUIRE(session.ok());
  HttpRequest request;
  request.url = registry.url("/v2/x/blobs/sha256:00");
  request.authorization = "Basic dTpw";
  request.allowPlainHttpRedirects = true;
  auto response = session->perform(request);
  REQUIRE(response.ok());
  CHECK(response->status == 200);
  CHECK(response->body == "blob");
  auto seen = registry.requests();
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].target == "/storage/00");
  CHECK(seen[1].header("authorization") == "Basic dTpw");
}

TEST_CASE("redirects: to plain HTTP only when allowed, at most 10, HEAD stays HEAD") {
  HttpTestServer store(storage);
  int hops = 0;
  HttpTestServer registry([&](const TestRequest& request) -> TestResponse {
    if (request.target.starts_with("/loop"))
      return {307, {{"Location", fmt::format("/loop{}", ++hops)}}, ""};
    return {307, {{"Location", store.url("/blob")}}, ""};
  });
  auto session = HttpSession::create();
  REQUIRE(session.ok());
  HttpRequest request;
  request.url = registry.url("/v2/x/blobs/sha256:00");
  // An https registry may not send the client to http://: libcurl's REDIR_PROTOCOLS rule.
  auto refused = session->perform(request);
  REQUIRE_FALSE(refused.ok());
  CHECK(session->lastFailure() == HttpFailure::kRedirectRefused);
  CHECK(refused.error().message() ==
        fmt::format("{}: redirect to http://{} refused: only https is allowed", request.url,
                    store.host()));
  CHECK(store.requests().empty());

  request.allowPlainHttpRedirects = true;
  request.method = "HEAD";
  auto head = session->perform(request);
  REQUIRE(head.ok());
  CHECK(head->status == 200);
  CHECK(store.requests().back().method == "HEAD");

  request.method = "GET";
  request.url = registry.url("/loop");
  auto loop = session->perform(request);
  REQUIRE_FALSE(loop.ok());
  CHECK(session->lastFailure() == HttpFailure::kRedirectRefused);
  CHECK(loop.error().message() == request.url + ": more than 10 redirects");
  CHECK(hops == 10);
}

TEST_CASE("a redirect of a PUT is not followed: the caller sees it") {
  HttpTestServer registry([&](const TestRequest&) -> TestResponse {
    return {307, {{"Location", "/elsewhere"}}, ""};
  });
  auto session = HttpSession::create();
  REQUIRE(session.ok());
  HttpRequest request;
  request.method = "PUT";
  request.url = registry.url("/v2/x/manifests/latest");
  request.body = "{}";
  request.allowPlainHttpRedirects = true;
  auto response = session->perform(request);
  REQUIRE(response.ok());
  CHECK(response->status == 307);
  CHECK(registry.requests().size() == 1);
}
