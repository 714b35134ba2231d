#include "shared/core/units.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include <fmt/format.h>

namespace berth {
namespace {

struct Unit {
  char suffix;
  int64_t factor;
};

// Binary, as du and Slurm use them.
constexpr Unit kSizeUnits[] = {
    {'k', 1LL << 10}, {'m', 1LL << 20}, {'g', 1LL << 30}, {'t', 1LL << 40}};
constexpr Unit kDurationUnits[] = {
    {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};

// `text` as a number times its unit's factor (`bare` without one); nothing when it is not one.
template <size_t N>
std::optional<int64_t> parseWithUnit(std::string_view text, const Unit (&units)[N], int64_t bare) {
  std::string number(text);
  int64_t factor = bare;
  if (!number.empty()) {
    char last = static_cast<char>(std::tolower(static_cast<unsigned char>(number.back())));
    for (const Unit& unit : units) {
      if (last == unit.suffix) {
        factor = unit.factor;
        number.pop_back();
        break;
      }
    }
  }
  if (number.empty() ||
      !(std::isdigit(static_cast<unsigned char>(number.front())) || number.front() == '.'))
    return std::nullopt;
  char* end = nullptr;
  double value = std::strtod(number.c_str(), &end);
  double scaled = value * static_cast<double>(factor);
  if (end != number.c_str() + number.size() || !std::isfinite(scaled) || scaled < 0 ||
      scaled > 9.0e18)
    return std::nullopt;
  return static_cast<int64_t>(scaled);
}

}  // namespace

Result<int64_t> parseSize(std::string_view text) {
  std::string_view size = text;
  if (size.size() > 1 && (size.back() == 'B' || size.back() == 'b'))
    size.remove_suffix(1);
  if (auto bytes = parseWithUnit(size, kSizeUnits, 1))
    return *bytes;
  return Error(fmt::format("`{}` is not a size (like 512M, 4G, 1.5T)", text));
}

Result<std::chrono::seconds> parseDuration(std::string_view text, std::chrono::seconds bare) {
  if (auto seconds = parseWithUnit(text, kDurationUnits, bare.count()))
    return std::chrono::seconds(*seconds);
  return Error(fmt::format("`{}` is not a duration (like 30s, 10m, 2h, 7d)", text));
}

}  // namespace berth
