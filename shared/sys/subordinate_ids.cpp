#include "shared/sys/subordinate_ids.hpp"

#include <charconv>
#include <string>

#include "shared/core/read_file.hpp"
#include "shared/core/strings.hpp"

namespace berth::sys {
namespace {

// An /etc/subuid of a large site has a line per user: a few MiB at most.
constexpr size_t kMaxSubordinateFileBytes = size_t{64} << 20;

bool parseNumber(std::string_view text, uint32_t& out) {
  if (text.empty())
    return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::vector<SubordinateRange> parseSubordinateIds(std::string_view text, std::string_view name,
                                                  uint32_t id) {
  std::vector<SubordinateRange> ranges;
  std::string numericId = std::to_string(id);
  for (const std::string& rawLine : split(text, '\n')) {
    std::string_view line = trim(rawLine);
    if (line.empty() || line.front() == '#')
      continue;
    std::vector<std::string> fields = split(line, ':');
    if (fields.size() != 3)
      continue;
    if (fields[0] != name && fields[0] != numericId)
      continue;
    SubordinateRange range;
    if (!parseNumber(fields[1], range.start) || !parseNumber(fields[2], range.count) ||
        range.count == 0 || uint64_t{range.start} + range.count > (uint64_t{1} << 32))
      continue;
    ranges.push_back(range);
  }
  return ranges;
}

Result<std::vector<SubordinateRange>> readSubordinateIds(const std::filesystem::path& file,
                                                         std::string_view name, uint32_t id) {
  Result<std::string> text = readRegularFile(file, kMaxSubordinateFileBytes);
  if (!text.ok()) {
    if (text.error().errnum() == ENOENT)
      return std::vector<SubordinateRange>{};
    return std::move(text).error();
  }
  return parseSubordinateIds(*text, name, id);
}

}  // namespace berth::sys
