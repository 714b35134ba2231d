#include "shared/registry/tls_trust.hpp"

#include <array>
#include <cerrno>

#include <fmt/format.h>

#include "shared/core/read_file.hpp"
#include "shared/core/strings.hpp"
#include "shared/registry/auth.hpp"
#include "shared/registry/curl_library.hpp"

namespace berth::registry {
namespace {

constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view kEnd = "-----END CERTIFICATE-----";

// The CA file libcurl reads when told nothing (its build's --with-ca-bundle).
std::string libcurlDefaultCaFile() {
  auto library = curlLibrary();
  if (!library.ok())
    return {};
  CURL* curl = (*library)->easyInit();
  if (curl == nullptr)
    return {};
  char* path = nullptr;
  std::string out;
  if ((*library)->easyGetinfo(curl, CURLINFO_CAINFO, &path) == CURLE_OK && path != nullptr)
    out = path;
  (*library)->easyCleanup(curl);
  return out;
}

// The system bundle's text, read once per process ("" when there is none).
const std::string& systemBundle() {
  static const std::string bundle = [] {
    std::array<std::string, 6> candidates = {
        libcurlDefaultCaFile(),
        "/etc/ssl/certs/ca-certificates.crt",                 // Debian, Ubuntu, Alpine
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // Fedora, RHEL
        "/etc/pki/tls/certs/ca-bundle.crt",                   // older RHEL
        "/etc/ssl/ca-bundle.pem",                             // SUSE
        "/etc/ssl/cert.pem",                                  // others
    };
    for (const std::string& path : candidates) {
      if (path.empty())
        continue;
      auto text = readRegularFile(path, kMaxCaFileSize);
      if (text.ok() && text->find(kBegin) != std::string::npos)
        return std::move(text).value();
    }
    return std::string();
  }();
  return bundle;
}

}  // namespace

Result<std::string> pemCertificates(std::string_view text) {
  std::string out;
  size_t count = 0;
  for (size_t pos = text.find(kBegin); pos != std::string_view::npos;
       pos = text.find(kBegin, pos)) {
    ++count;
    size_t end = text.find(kEnd, pos);
    if (end == std::string_view::npos)
      return Error(fmt::format("certificate {} has no `{}` line", count, kEnd));
    std::string_view body = text.substr(pos + kBegin.size(), end - pos - kBegin.size());
    auto der = base64Decode(body);
    if (!der.ok() || der->empty() || static_cast<unsigned char>((*der)[0]) != 0x30)
      return Error(fmt::format("certificate {} is not valid base64 DER", count));
    out.append(text.substr(pos, end + kEnd.size() - pos));
    out += '\n';
    pos = end + kEnd.size();
  }
  if (count == 0)
    return Error("no PEM certificate in it");
  return out;
}

Result<std::string> readCaFile(const CaFile& file) {
  // "BERTH_REGISTRY_CA_FILE: open `/x.pem`: No such file or directory"
  BERTH_ASSIGN(std::string text,
               readRegularFile(file.path, kMaxCaFileSize).withContext(file.origin));
  return pemCertificates(text).withContext(fmt::format("{} `{}`", file.origin, file.path.string()));
}

Result<std::shared_ptr<const std::string>> trustBundle(std::string_view extraPem) {
  if (trim(extraPem).empty())
    return std::shared_ptr<const std::string>();
  std::string bundle = systemBundle();
  if (!bundle.empty() && bundle.back() != '\n')
    bundle += '\n';
  bundle.append(extraPem);
  return std::make_shared<const std::string>(std::move(bundle));
}

}  // namespace berth::registry
