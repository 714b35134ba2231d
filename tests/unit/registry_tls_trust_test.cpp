// Extra certificate authorities for registries (issue 14): CA files from berth.conf and the
// environment are checked when read, and added to (never replacing) the system store.
#include <doctest/doctest.h>

#include <fstream>

#include <fmt/format.h>

#include "shared/core/temp_dir.hpp"
#include "shared/registry/registry_client.hpp"
#include "shared/registry/tls_trust.hpp"

using namespace berth;
using namespace berth::registry;

namespace {

// A real self-signed certificate (only its encoding matters here).
constexpr std::string_view kCert = R"(-----BEGIN CERTIFICATE-----
MIIBjzCCATWgAwIBAgIUYakpV2DbfUfXmzNKQDrd80KaSkUwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSYmVydGggdW5pdCB0ZXN0IENBMB4XDTI2MTIwNzE2MTk0MVoX
DTI2MTIwODE2MTk0MVowHTEbMBkGA1UEAwwSYmVydGggdW5pdCB0ZXN0IENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9ET7SYfP3wCwnOoFTugypofIHp3ETbBo
m8riV+ZlKkJNH4V//M05pu7r2IvkBQ2DzTebj0oY857cAhXFEYLxcKNTMFEwHQYD
VR0OBBYEFFlbd4aqFnQyek2HqP5vrxLUxTHtMB8GA1UdIwQYMBaAFFlbd4aqFnQy
ek2HqP5vrxLUxTHtMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIh
ANi9XcTXe6Mh95Iafl9EknU5fxmO1uU23s1LONZ9wLVTAiBl4aYPsw7cX4UILrGr
lSmfM0DsilVdszju/WyhPiMNVw==
-----END CERTIFICATE-----
)";

void write(const std::filesystem::path& path, std::string_view text) {
  std::ofstream(path) << text;
}

}  // namespace

TEST_CASE("CA files: PEM certificates kept, everything else dropped, bad ones named") {
  std::string text = fmt::format("# our CA\nsubject=CN = berth ca\n{}\ntrailing words\n", kCert);
  auto pem = pemCertificates(text);
  REQUIRE(pem.ok());
  CHECK(*pem == std::string(kCert));
  auto two = pemCertificates(fmt::format("{}{}", kCert, kCert));
  REQUIRE(two.ok());
  CHECK(two->size() == 2 * kCert.size());

  CHECK(pemCertificates("").error().message() == "no PEM certificate in it");
  CHECK(pemCertificates("-----BEGIN PRIVATE KEY-----\nMII=\n-----END PRIVATE KEY-----\n")
            .error()
            .message() == "no PEM certificate in it");
  std::string cut(kCert.substr(0, 100));
  CHECK(pemCertificates(cut).error().message() ==
        "certificate 1 has no `-----END CERTIFICATE-----` line");
  CHECK(pemCertificates(
            fmt::format("{}-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", kCert))
            .error()
            .message() == "certificate 2 is not valid base64 DER");
}

TEST_CASE("CA files: read errors name where the file was set") {
  auto dir = TempDir::create(std::filesystem::temp_directory_path(), "berth-ca-test");
  REQUIRE(dir.ok());
  auto missing = readCaFile({dir->path() / "nope.pem", "BERTH_REGISTRY_CA_FILE"});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message() ==
        fmt::format("BERTH_REGISTRY_CA_FILE: open `{}`: No such file or directory",
                    (dir->path() / "nope.pem").string()));
  write(dir->path() / "key.pem",
        "-----BEGIN EC PRIVATE KEY-----\nMHc=\n-----END EC PRIVATE KEY-----\n");
  CHECK(readCaFile({dir->path() / "key.pem", "registry_ca_file"}).error().message() ==
        fmt::format("registry_ca_file `{}`: no PEM certificate in it",
                    (dir->path() / "key.pem").string()));
  CHECK(readCaFile({dir->path(), "registry_ca_file"}).error().message().find("is a directory") !=
        std::string::npos);
  write(dir->path() / "ca.pem", kCert);
  CHECK(*readCaFile({dir->path() / "ca.pem", "registry_ca_file"}) == std::string(kCert));

  SUBCASE("the registry client reads them when created: a bad one is an error at once") {
    RegistryOptions options;
    options.env = [&](std::string_view name) -> std::optional<std::string> {
      if (name == kCaFileVariable)
        return (dir->path() / "key.pem").string();
      return std::nullopt;
    };
    auto client = RegistryClient::create(options, {});
    REQUIRE_FALSE(client.ok());
    CHECK(client.error().message() ==
          fmt::format("BERTH_REGISTRY_CA_FILE `{}`: no PEM certificate in it",
                      (dir->path() / "key.pem").string()));
    options.env = nullptr;
    options.caFiles = {dir->path() / "missing.pem"};
    CHECK(RegistryClient::create(options, {})
              .error()
              .message()
              .starts_with("registry_ca_file: open `"));
    options.caFiles = {dir->path() / "ca.pem"};
    CHECK(RegistryClient::create(options, {}).ok());
  }
}

TEST_CASE("the trust bundle: the system store first, then the extra CAs -- none: libcurl's own") {
  auto none = trustBundle("  \n");
  REQUIRE(none.ok());
  CHECK(*none == nullptr);
  auto bundle = trustBundle(kCert);
  REQUIRE(bundle.ok());
  REQUIRE(*bundle != nullptr);
  const std::string& text = **bundle;
  CHECK(text.ends_with(std::string(kCert)));
  // This machine has a system store (ca-certificates): it comes first, whole.
  if (std::filesystem::exists("/etc/ssl/certs/ca-certificates.crt"))
    CHECK(text.size() > kCert.size() + 10000);
}
