// Platforms ("os/arch[/variant]", GOOS/GOARCH names as in OCI image indexes) and matching one
// against the entries of a manifest list.
#pragma once

#include <string>
#include <string_view>

#include "shared/core/result.hpp"

namespace berth::image {

struct Platform {
  std::string os;            // "linux"
  std::string architecture;  // "amd64", "arm64", "arm", "ppc64le", ...
  std::string variant;       // "v8", "v7", ... or empty

  // "linux/amd64" or "linux/arm/v7".
  std::string toString() const;
  bool operator==(const Platform&) const = default;
};

// Parses "os/arch[/variant]"; architecture aliases (x86_64, aarch64, ...) become GOARCH names.
Result<Platform> parsePlatform(std::string_view text);

// The platform this process runs on (uname machine mapped to GOARCH), os "linux".
Platform detectHostPlatform();

// Normalised form: GOARCH names, and default variants made explicit-empty where a missing
// variant means the same thing (arm64 "v8" == "").
Platform normalizePlatform(Platform platform);

// How well `candidate` (from an index) serves `wanted`: 0 = not at all; higher is better.
// os and architecture must match; a wanted variant must match; when none is wanted, an entry
// without a variant (or with the architecture's default one) wins over other variants.
int platformMatchScore(const Platform& candidate, const Platform& wanted);

}  // namespace berth::image
