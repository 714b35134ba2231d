#include "shared/image/platform.hpp"

#include <sys/utsname.h>

#include <array>

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::image {

namespace {

// Kernel/uname and common aliases -> GOARCH names used in OCI platforms.
struct ArchAlias {
  std::string_view alias;
  std::string_view goarch;
  std::string_view variant;  // implied variant, if any
};
constexpr std::array kArchAliases = {
    ArchAlias{"x86_64", "amd64", ""},     // uname on Intel/AMD 64-bit
    ArchAlias{"x86-64", "amd64", ""},     // spelling used by some tools
    ArchAlias{"aarch64", "arm64", ""},    // uname on 64-bit ARM
    ArchAlias{"armv7l", "arm", "v7"},     // uname on 32-bit ARMv7
    ArchAlias{"armhf", "arm", "v7"},      // Debian's name for ARMv7 hard-float
    ArchAlias{"armv6l", "arm", "v6"},     // uname on Raspberry Pi 1
    ArchAlias{"i386", "386", ""},         // Debian's name
    ArchAlias{"i686", "386", ""},         // uname on 32-bit x86
    ArchAlias{"ppc64el", "ppc64le", ""},  // Debian's name for POWER little-endian
};

// Variants that mean the same as no variant for an architecture (OCI image-index spec).
struct DefaultVariant {
  std::string_view architecture;
  std::string_view variant;
};
constexpr std::array kDefaultVariants = {
    DefaultVariant{"arm64", "v8"},  // all arm64 images are ARMv8; many indexes omit it
    DefaultVariant{"amd64", "v1"},  // x86-64 baseline (v2/v3 are extra microarchitectures)
};

bool isDefaultVariant(std::string_view architecture, std::string_view variant) {
  for (const DefaultVariant& d : kDefaultVariants) {
    if (d.architecture == architecture && d.variant == variant)
      return true;
  }
  return false;
}

}  // namespace

std::string Platform::toString() const {
  if (variant.empty())
    return fmt::format("{}/{}", os, architecture);
  return fmt::format("{}/{}/{}", os, architecture, variant);
}

Platform normalizePlatform(Platform platform) {
  for (const ArchAlias& a : kArchAliases) {
    if (platform.architecture == a.alias) {
      platform.architecture = std::string(a.goarch);
      if (platform.variant.empty())
        platform.variant = std::string(a.variant);
      break;
    }
  }
  if (isDefaultVariant(platform.architecture, platform.variant))
    platform.variant.clear();
  return platform;
}

Result<Platform> parsePlatform(std::string_view text) {
  std::vector<std::string> parts = split(text, '/');
  if (parts.size() < 2 || parts.size() > 3)
    return Error(fmt::format("invalid platform `{}`: expected OS/ARCH[/VARIANT]", text));
  for (const std::string& part : parts) {
    if (part.empty())
      return Error(fmt::format("invalid platform `{}`: empty component", text));
    for (char c : part) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
        return Error(fmt::format("invalid platform `{}`: unexpected character", text));
    }
  }
  Platform platform{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
  return normalizePlatform(std::move(platform));
}

Platform detectHostPlatform() {
  struct utsname u {};
  ::uname(&u);
  return normalizePlatform(Platform{"linux", u.machine, ""});
}

int platformMatchScore(const Platform& candidate, const Platform& wanted) {
  Platform c = normalizePlatform(candidate);
  Platform w = normalizePlatform(wanted);
  if (c.os != w.os || c.architecture != w.architecture)
    return 0;
  if (!w.variant.empty())
    return c.variant == w.variant ? 3 : 0;
  return c.variant.empty() ? 2 : 1;
}

}  // namespace berth::image
