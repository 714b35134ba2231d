// Sizes and durations, read the same way everywhere (berth.conf, command lines): one set of
// units. A number may have a fraction (1.5G, 0.5h); negative numbers are refused.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "shared/core/result.hpp"

namespace berth {

// Bytes: a number with an optional binary unit K, M, G, T (either case; a trailing B is
// allowed: 512M, 4g, 1.5GB); without a unit, bytes.
[[nodiscard]] Result<int64_t> parseSize(std::string_view text);

// A duration: a number with an optional unit s, m, h, d, w (30s, 10m, 1.5h, 7d); without a
// unit, `bare` units of it (seconds unless the caller says otherwise).
[[nodiscard]] Result<std::chrono::seconds> parseDuration(
    std::string_view text, std::chrono::seconds bare = std::chrono::seconds(1));

}  // namespace berth
