#include <doctest/doctest.h>

#include "shared/registry/auth.hpp"

using namespace berth::registry;

TEST_CASE("WWW-Authenticate: Docker Hub's Bearer challenge") {
  auto challenges = parseWwwAuthenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull")");
  REQUIRE(challenges.ok());
  REQUIRE(challenges->size() == 1);
  const AuthChallenge& c = challenges->front();
  CHECK(c.scheme == "bearer");
  CHECK(c.param("realm") == "https://auth.docker.io/token");
  CHECK(c.param("service") == "registry.docker.io");
  CHECK(c.param("scope") == "repository:library/ubuntu:pull");
  CHECK(*tokenUrl(c, "library/ubuntu") ==
        "https://auth.docker.io/"
        "token?service=registry.docker.io&scope=repository%3Alibrary%2Fubuntu%3Apull");
}

TEST_CASE("WWW-Authenticate: Basic, several challenges, escapes, odd spacing and case") {
  auto basic = parseWwwAuthenticate(R"(Basic realm="Registry Realm")");
  REQUIRE(basic.ok());
  CHECK(basic->front().scheme == "basic");
  CHECK(basic->front().param("realm") == "Registry Realm");

  auto many = parseWwwAuthenticate(
      R"(  BASIC REALM = "a \"quoted\" realm" , Bearer realm="https://x/t?a=b",service=svc,  error="invalid_token")");
  REQUIRE(many.ok());
  REQUIRE(many->size() == 2);
  CHECK((*many)[0].param("realm") == R"(a "quoted" realm)");
  CHECK((*many)[1].scheme == "bearer");
  CHECK((*many)[1].param("service") == "svc");
  CHECK((*many)[1].param("error") == "invalid_token");
  // A realm that has a query already gets '&'.
  CHECK(tokenUrl((*many)[1], "r").value().starts_with("https://x/t?a=b&service=svc&scope="));

  auto bare = parseWwwAuthenticate("Basic");
  REQUIRE(bare.ok());
  CHECK(bare->front().params.empty());
}

TEST_CASE("WWW-Authenticate: malformed headers and realms") {
  CHECK_FALSE(parseWwwAuthenticate("").ok());
  CHECK_FALSE(parseWwwAuthenticate(R"(Bearer realm="unterminated)").ok());
  CHECK_FALSE(parseWwwAuthenticate("=x").ok());
  auto noRealm = parseWwwAuthenticate("Bearer service=x");
  REQUIRE(noRealm.ok());
  CHECK_FALSE(tokenUrl(noRealm->front(), "r").ok());
  auto fileRealm = parseWwwAuthenticate(R"(Bearer realm="file:///etc/passwd")");
  REQUIRE(fileRealm.ok());
  CHECK_FALSE(tokenUrl(fileRealm->front(), "r").ok());
}

TEST_CASE("token responses and Basic credentials") {
  CHECK(parseTokenResponse(R"({"token":"t1","expires_in":300})")->token == "t1");
  CHECK(parseTokenResponse(R"({"token":"t1","expires_in":300})")->expiresInSeconds == 300);
  CHECK(parseTokenResponse(R"({"access_token":"t2"})")->token == "t2");
  CHECK_FALSE(parseTokenResponse(R"({"token":""})").ok());
  CHECK_FALSE(parseTokenResponse("not json").ok());

  CHECK(*basicAuthorization("user", "pa:ss") == "Basic dXNlcjpwYTpzcw==");
  CHECK(*base64Decode("dXNlcjpwYTpzcw==") == "user:pa:ss");
  CHECK(*base64Decode("YQ==") == "a");
  CHECK(*base64Decode("YWI=") == "ab");
  CHECK(*base64Decode("") == "");
  CHECK_FALSE(base64Decode("abc").ok());
  CHECK_FALSE(base64Decode("a===").ok());
  CHECK_FALSE(base64Decode("YQ=a").ok());  // padding only at the end
  CHECK_FALSE(base64Decode("YW-=").ok());  // not the standard alphabet
}

TEST_CASE("base64: RFC 4648 test vectors and binary round trips") {
  // RFC 4648 section 10.
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    CHECK(*base64Encode(plain) == encoded);
    CHECK(*base64Decode(encoded) == plain);
  }
  std::string bytes;
  for (int i = 0; i < 256; ++i)
    bytes += static_cast<char>(i);
  for (size_t length = 0; length <= bytes.size(); length += 37) {
    std::string part = bytes.substr(bytes.size() - length);
    CHECK(*base64Decode(*base64Encode(part)) == part);
  }
  CHECK(*base64Encode("\xff\xfe\xfd") == "//79");
  CHECK(*base64Decode("//79\n") == "\xff\xfe\xfd");
}
