// Subordinate ids: the ranges of host uids and gids an administrator gave a user in /etc/subuid
// and /etc/subgid (shadow's format, what newuidmap and newgidmap check), for the "subuid"
// identity mode (container/identity_mode.hpp).
//
//   berthtest:100000:65536      NAME:START:COUNT
//   1001:165536:65536           the user's uid works as well as the name
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::sys {

struct SubordinateRange {
  uint32_t start = 0;  // first host id of the range
  uint32_t count = 0;  // how many ids, never 0
  bool operator==(const SubordinateRange&) const = default;
};

inline constexpr std::string_view kSubuidFile = "/etc/subuid";
inline constexpr std::string_view kSubgidFile = "/etc/subgid";

// The ranges of the user `name` (or of its numeric id `id`) in the text of a subuid or subgid
// file, in file order. Lines that are empty, comments (`#`) or malformed (not three fields,
// a number that does not parse, a count of 0, a range past 2^32) belong to nobody, as shadow
// skips them.
std::vector<SubordinateRange> parseSubordinateIds(std::string_view text, std::string_view name,
                                                  uint32_t id);

// The same from a file; a missing file gives no ranges.
[[nodiscard]] Result<std::vector<SubordinateRange>> readSubordinateIds(
    const std::filesystem::path& file, std::string_view name, uint32_t id);

}  // namespace berth::sys
