// Which certificate authorities berth trusts for HTTPS to registries: the system store, plus
// CA files the site names in berth.conf (`registry_ca_file`) or a user in the environment
// (BERTH_REGISTRY_CA_FILE) for registries whose certificates a private CA signed.
//
// libcurl replaces, not extends, its store when told of a CA file, so berth hands it one PEM
// bundle in memory (CURLOPT_CAINFO_BLOB): the system bundle libcurl would have read, then the
// extra certificates. libcurl's CA directory (Debian's /etc/ssl/certs) stays in use.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "shared/core/result.hpp"

namespace berth::registry {

inline constexpr std::string_view kCaFileVariable = "BERTH_REGISTRY_CA_FILE";
// A CA file larger than this is not one (the whole Mozilla store is ~220 KB).
inline constexpr size_t kMaxCaFileSize = 4 << 20;

struct CaFile {
  std::filesystem::path path;
  std::string
      origin;  // where it was named, for messages: "registry_ca_file", "BERTH_REGISTRY_CA_FILE"
};

// The certificates of a CA file (PEM; anything else in the file, such as comments or a
// certificate's text form, is left out). Errors are one line naming the origin and the file:
// "BERTH_REGISTRY_CA_FILE `/x.pem`: no PEM certificate in it", "registry_ca_file: open
// `/x.pem`: No such file or directory".
[[nodiscard]] Result<std::string> readCaFile(const CaFile& file);

// The PEM blocks "-----BEGIN CERTIFICATE-----" ... "-----END CERTIFICATE-----" of `text`, each
// checked to be base64 of a DER structure; an error names the first bad one (1-based).
[[nodiscard]] Result<std::string> pemCertificates(std::string_view text);

// The system's CA bundle (libcurl's built-in CA file, else the usual locations of Debian,
// Fedora/RHEL, SUSE and Alpine) followed by `extraPem`, for HttpRequest::caBundle. Null when
// `extraPem` is empty: then libcurl's own defaults apply unchanged.
[[nodiscard]] Result<std::shared_ptr<const std::string>> trustBundle(std::string_view extraPem);

}  // namespace berth::registry
