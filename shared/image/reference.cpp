#include "shared/image/reference.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

#include <fmt/format.h>

#include "shared/core/strings.hpp"
#include "shared/image/digest.hpp"

namespace berth::image {

namespace {

// Docker Hub's names for itself, each normalised to docker.io.
struct RegistryAlias {
  std::string_view alias;
  std::string_view canonical;
};
constexpr std::array kDockerHubRules = {
    // The legacy v1 index name Docker still accepts and stores in config.json.
    RegistryAlias{"index.docker.io", kDockerHubRegistry},
    // The API host itself, as some users copy it from error messages.
    RegistryAlias{"registry-1.docker.io", kDockerHubRegistry},
    // The canonical name maps to itself.
    RegistryAlias{"docker.io", kDockerHubRegistry},
};
// Single-component Docker Hub repositories live under this namespace ("ubuntu" -> library/ubuntu).
constexpr std::string_view kDockerHubOfficialNamespace = "library/";
// Distribution limits: a full name is at most 255 characters, a tag at most 128.
constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;
constexpr std::string_view kDockerScheme = "docker://";
// enroot and pyxis write the registry before a '#': `nvcr.io#nvidia/pytorch:24.05-py3`.
constexpr char kEnrootRegistryEnd = '#';
// After '@', one of these and ':' starts a digest; anything else is enroot's `USER@`.
constexpr std::string_view kDigestAlgorithms[] = {
    "sha256",  // the only one registries serve today
    "sha384",  // registered by OCI image-spec, refused by validateDigest
    "sha512",  // same
    "blake3",  // same
    "md5",     // seen in hand-written references; refused with the reason
    "sha1",    // same
};
// The characters of a URL's user information that enroot accepts in `USER@`, without ':' (a
// password does not belong in a reference: it would be printed and logged).
constexpr std::string_view kUserPunctuation = "_.!~*'()%;&=+$,-";

bool isLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool isAlnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool isDomainComponent(std::string_view s) {
  if (s.empty() || !isAlnum(s.front()) || !isAlnum(s.back()))
    return false;
  for (char c : s) {
    if (!isAlnum(c) && c != '-')
      return false;
  }
  return true;
}

// domain := (domain-component ('.' domain-component)* | '[' ipv6 ']') [':' port]
std::optional<std::string> checkDomain(std::string_view domain) {
  std::string_view host = domain;
  std::string_view port;
  if (host.starts_with('[')) {
    size_t close = host.find(']');
    if (close == std::string_view::npos)
      return "unterminated `[` in registry address";
    for (char c : host.substr(1, close - 1)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':')
        return "invalid IPv6 registry address";
    }
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':'))
      return "invalid registry address";
    port = rest.empty() ? std::string_view() : rest.substr(1);
    if (!rest.empty() && port.empty())
      return "empty port in registry address";
  } else {
    size_t colon = host.find(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
      if (port.empty())
        return "empty port in registry address";
    }
    for (const std::string& component : split(host, '.')) {
      if (!isDomainComponent(component))
        return fmt::format("invalid registry host `{}`", host);
    }
  }
  if (!port.empty()) {
    if (port.size() > 5)
      return fmt::format("invalid port `{}`", port);
    for (char c : port) {
      if (c < '0' || c > '9')
        return fmt::format("invalid port `{}`", port);
    }
  }
  return std::nullopt;
}

// path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | __ | -+
std::optional<std::string> checkPathComponent(std::string_view s) {
  if (s.empty())
    return "empty path component";
  for (char c : s) {
    if (c >= 'A' && c <= 'Z')
      return "repository name must be lowercase";
  }
  if (!isLowerAlnum(s.front()) || !isLowerAlnum(s.back()))
    return fmt::format("path component `{}` must start and end with a letter or digit", s);
  size_t i = 0;
  while (i < s.size()) {
    if (isLowerAlnum(s[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < s.size() && !isLowerAlnum(s[i]))
      ++i;
    std::string_view sep = s.substr(start, i - start);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (sep != "." && sep != "_" && sep != "__" && !dashes)
      return fmt::format("invalid separator `{}` in `{}`", sep, s);
  }
  return std::nullopt;
}

// tag := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
std::optional<std::string> checkTag(std::string_view tag) {
  if (tag.empty())
    return "empty tag";
  if (tag.size() > kMaxTagLength)
    return "tag longer than 128 characters";
  if (!isAlnum(tag.front()) && tag.front() != '_')
    return fmt::format("invalid tag `{}`", tag);
  for (char c : tag) {
    if (!isAlnum(c) && c != '_' && c != '.' && c != '-')
      return fmt::format("invalid tag `{}`", tag);
  }
  return std::nullopt;
}

bool startsWithDigestAlgorithm(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos)
    return false;
  std::string_view algorithm = text.substr(0, colon);
  return std::find(std::begin(kDigestAlgorithms), std::end(kDigestAlgorithms), algorithm) !=
         std::end(kDigestAlgorithms);
}

std::optional<std::string> checkUser(std::string_view user) {
  if (user.empty())
    return "empty user name before `@`";
  if (user.find(':') != std::string_view::npos)
    return "`:` in the user name (a password does not belong in an image reference)";
  for (char c : user) {
    if (!isAlnum(c) && kUserPunctuation.find(c) == std::string_view::npos)
      return fmt::format("invalid user name `{}`", user);
  }
  return std::nullopt;
}

bool looksLikeRegistry(std::string_view component) {
  return component.find_first_of(".:") != std::string_view::npos || component == "localhost" ||
         component.starts_with('[');
}

std::string canonicalRegistry(std::string_view registry) {
  for (const RegistryAlias& rule : kDockerHubRules) {
    if (registry == rule.alias)
      return std::string(rule.canonical);
  }
  return std::string(registry);
}

}  // namespace

std::string ImageReference::name() const {
  return fmt::format("{}/{}", registry, repository);
}

std::string ImageReference::toString() const {
  std::string out = name();
  if (!tag.empty())
    out += ":" + tag;
  if (!digest.empty())
    out += "@" + digest;
  return out;
}

std::string ImageReference::toStringWithUser() const {
  return user.empty() ? toString() : fmt::format("{}@{}", user, toString());
}

std::string ImageReference::apiEndpoint() const {
  return registry == kDockerHubRegistry ? std::string(kDockerHubApiHost) : registry;
}

std::string ImageReference::manifestReference() const {
  return digest.empty() ? tag : digest;
}

Result<ImageReference> parseImageReference(std::string_view text) {
  auto invalid = [&](std::string_view why) {
    return Error(fmt::format("invalid image reference `{}`: {}", text, why));
  };
  std::string_view rest = text;
  if (rest.starts_with(kDockerScheme))
    rest.remove_prefix(kDockerScheme.size());
  if (rest.empty())
    return invalid("empty reference");
  for (char c : rest) {
    if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f)
      return invalid("contains white space or a control character");
  }

  ImageReference ref;
  if (size_t at = rest.rfind('@');
      at != std::string_view::npos && startsWithDigestAlgorithm(rest.substr(at + 1))) {
    ref.digest = std::string(rest.substr(at + 1));
    if (Status ok = validateDigest(ref.digest); !ok.ok())
      return invalid(ok.error().message());
    rest = rest.substr(0, at);
  }
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    ref.user = std::string(rest.substr(0, at));
    if (auto why = checkUser(ref.user))
      return invalid(*why);
    rest = rest.substr(at + 1);
  }
  std::optional<std::string_view> domain;
  if (size_t hash = rest.find(kEnrootRegistryEnd); hash != std::string_view::npos) {
    domain = rest.substr(0, hash);
    if (domain->empty())
      return invalid("no registry before `#`");
    rest = rest.substr(hash + 1);
  }

  // The tag follows the last ':' after the last '/'; a ':' before it belongs to a port.
  size_t lastSlash = rest.rfind('/');
  size_t lastColon = rest.rfind(':');
  if (lastColon != std::string_view::npos &&
      (lastSlash == std::string_view::npos || lastColon > lastSlash)) {
    std::string_view tag = rest.substr(lastColon + 1);
    if (auto why = checkTag(tag))
      return invalid(*why);
    ref.tag = std::string(tag);
    rest = rest.substr(0, lastColon);
  }
  if (rest.empty())
    return invalid("no repository name");

  std::string_view path = rest;
  size_t firstSlash = rest.find('/');
  if (!domain && firstSlash != std::string_view::npos &&
      looksLikeRegistry(rest.substr(0, firstSlash))) {
    domain = rest.substr(0, firstSlash);
    path = rest.substr(firstSlash + 1);
  }
  if (domain) {
    if (auto why = checkDomain(*domain))
      return invalid(*why);
    ref.registry = canonicalRegistry(*domain);
  } else {
    ref.registry = std::string(kDockerHubRegistry);
  }
  if (path.empty())
    return invalid("no repository name");
  for (const std::string& component : split(path, '/')) {
    if (auto why = checkPathComponent(component))
      return invalid(*why);
  }
  ref.repository = std::string(path);
  if (ref.registry == kDockerHubRegistry && ref.repository.find('/') == std::string::npos)
    ref.repository = fmt::format("{}{}", kDockerHubOfficialNamespace, ref.repository);
  if (ref.name().size() > kMaxNameLength)
    return invalid("name longer than 255 characters");
  if (ref.tag.empty() && ref.digest.empty())
    ref.tag = std::string(kDefaultTag);
  return ref;
}

Result<std::string> normalizeRegistryName(std::string_view text) {
  std::string_view host = trim(text);
  for (std::string_view scheme : {"https://", "http://"}) {
    if (host.starts_with(scheme))
      host.remove_prefix(scheme.size());
  }
  // Docker stores "https://index.docker.io/v1/": keep the host part only.
  if (size_t slash = host.find('/'); slash != std::string_view::npos)
    host = host.substr(0, slash);
  if (host.empty())
    return Error(fmt::format("invalid registry `{}`: empty", text));
  if (auto why = checkDomain(host))
    return Error(fmt::format("invalid registry `{}`: {}", text, *why));
  return canonicalRegistry(host);
}

}  // namespace berth::image
