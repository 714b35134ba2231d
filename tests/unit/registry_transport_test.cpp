#include <doctest/doctest.h>

#include "shared/registry/registry_transport.hpp"

using namespace berth::image;
using namespace berth::registry;

namespace {

EnvLookup envWith(std::optional<std::string> insecure) {
  return [insecure](std::string_view name) -> std::optional<std::string> {
    if (name == "BERTH_INSECURE_REGISTRIES")
      return insecure;
    return std::nullopt;
  };
}

}  // namespace

TEST_CASE("registry errors: the registry's own message, else its code, else nothing") {
  CHECK(
      registryErrorMessage(
          R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]})") ==
      "manifest unknown");
  CHECK(registryErrorMessage(R"({"errors":[{"code":"NAME_UNKNOWN"}]})") == "NAME_UNKNOWN");
  CHECK(registryErrorMessage(R"({"errors":[]})").empty());
  CHECK(registryErrorMessage("<html>502 Bad Gateway</html>").empty());
}

TEST_CASE("insecure registries: configured and BERTH_INSECURE_REGISTRIES, normalised") {
  auto set = insecureRegistrySet({"reg.local:5000", " "},
                                 envWith("127.0.0.1:5000, http://index.docker.io,bad host"));
  CHECK(set == std::set<std::string>{"reg.local:5000", "127.0.0.1:5000", "docker.io"});
  CHECK(insecureRegistrySet({}, envWith(std::nullopt)).empty());
}

TEST_CASE("endpoints: mirrors first, plain HTTP only where marked, Docker Hub's API host") {
  TransportOptions options;
  options.insecureRegistries = {"127.0.0.1:5000", "mirror.local"};
  options.mirrors["docker.io"] = {"https://mirror.example", "mirror.local", "http://m3:80",
                                  "bad mirror"};
  RegistryTransport transport(options, CredentialStore(envWith(std::nullopt), {}, {}), {});

  auto hub = transport.endpoints(*parseImageReference("ubuntu"));
  REQUIRE(hub.size() == 4);
  CHECK(hub[0].baseUrl() == "https://mirror.example");
  CHECK(hub[0].mirror);
  CHECK(hub[1].baseUrl() == "http://mirror.local");
  CHECK(hub[2].baseUrl() == "http://m3:80");
  CHECK(hub[3].baseUrl() == "https://registry-1.docker.io");
  CHECK(hub[3].registry == "docker.io");
  CHECK_FALSE(hub[3].mirror);

  auto local = transport.endpoints(*parseImageReference("127.0.0.1:5000/x"));
  REQUIRE(local.size() == 1);
  CHECK(local[0].baseUrl() == "http://127.0.0.1:5000");
  // Loopback is not enough for plain HTTP: only what is marked.
  CHECK(transport.endpoints(*parseImageReference("127.0.0.1:5001/x"))[0].baseUrl() ==
        "https://127.0.0.1:5001");
}
