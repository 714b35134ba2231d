// Bind specifications as users write them: `-B SRC[:DST[:ro|rw]]`, comma-separated lists.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::container {

struct MountSpec {
  std::string source;       // host path (absolute after resolveSources)
  std::string destination;  // absolute path inside the container; defaults to the source
  bool readOnly = false;

  bool operator==(const MountSpec&) const = default;
};

// One `SRC[:DST[:ro|rw]]`.
[[nodiscard]] Result<MountSpec> parseMountSpec(std::string_view text);
// A comma-separated list of them (empty items are errors).
[[nodiscard]] Result<std::vector<MountSpec>> parseMountSpecList(std::string_view text);

// Makes relative sources absolute against `cwd` (the destination follows when it was defaulted).
std::vector<MountSpec> resolveSources(std::vector<MountSpec> specs, const std::string& cwd);

}  // namespace berth::container
