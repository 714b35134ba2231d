#include "shared/build/dockerfile_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>

#include "shared/core/strings.hpp"

namespace berth::build {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

// "/a/./b/../c//" -> "/a/c".
std::string cleanAbsolutePath(std::string_view path) {
  std::vector<std::string> parts;
  for (const std::string& part : split(path, '/')) {
    if (part.empty() || part == ".")
      continue;
    if (part == "..") {
      if (!parts.empty())
        parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (const std::string& part : parts)
    out += "/" + part;
  return out.empty() ? "/" : out;
}

// EXPOSE's "80", "80/udp", "8000-8002/tcp" -> {"80/tcp"}, ...
Status addExposedPorts(std::string_view spec, std::set<std::string>& out, int64_t& budget) {
  std::string_view ports = spec;
  std::string protocol = "tcp";
  if (size_t slash = spec.find('/'); slash != std::string_view::npos) {
    ports = spec.substr(0, slash);
    protocol = lower(spec.substr(slash + 1));
  }
  if (protocol != "tcp" && protocol != "udp" && protocol != "sctp")
    return Error(fmt::format("EXPOSE `{}`: protocol must be tcp, udp or sctp", spec));
  auto number = [&](std::string_view text) -> Result<int> {
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > 65535)
      return Error(fmt::format("EXPOSE `{}`: invalid port", spec));
    return value;
  };
  size_t dash = ports.find('-');
  BERTH_ASSIGN(int first, number(ports.substr(0, dash)));
  int last = first;
  if (dash != std::string_view::npos) {
    BERTH_ASSIGN(last, number(ports.substr(dash + 1)));
  }
  if (last < first)
    return Error(fmt::format("EXPOSE `{}`: invalid port range", spec));
  budget -= last - first + 1;
  if (budget < 0)
    return Error(fmt::format("EXPOSE `{}`: too many ports in one Dockerfile", spec));
  for (int port = first; port <= last; ++port)
    out.insert(fmt::format("{}/{}", port, protocol));
  return okStatus();
}

Result<HealthcheckConfig> parseHealthcheck(const DockerInstruction& instruction) {
  HealthcheckConfig check;
  std::string_view args = trim(instruction.args);
  size_t space = args.find_first_of(" \t");
  std::string first = lower(args.substr(0, space));
  std::string_view rest = space == std::string_view::npos ? "" : trim(args.substr(space));
  if (first == "none") {
    if (!rest.empty() || !instruction.flags.empty())
      return Error("HEALTHCHECK NONE takes no other arguments");
    check.test = {"NONE"};
    return check;
  }
  if (first != "cmd" || rest.empty())
    return Error("HEALTHCHECK takes [OPTIONS] CMD COMMAND, or NONE");
  for (const auto& [name, value] : instruction.flags) {
    if (name == "retries") {
      int retries = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), retries);
      if (ec != std::errc() || end != value.data() + value.size() || retries < 0)
        return Error(fmt::format("HEALTHCHECK --retries={}: not a count", value));
      check.retries = retries;
      continue;
    }
    BERTH_ASSIGN(int64_t ns, parseGoDuration(value).withContext(
                                 fmt::format("HEALTHCHECK --{}={}", name, value)));
    (name == "interval"       ? check.intervalNs
     : name == "timeout"      ? check.timeoutNs
     : name == "start-period" ? check.startPeriodNs
                              : check.startIntervalNs) = ns;
  }
  auto parsed = parseDockerInstruction(fmt::format("CMD {}", rest));
  if (parsed.ok() && parsed->execForm) {
    check.test = {"CMD"};
    check.test.insert(check.test.end(), parsed->execArgs.begin(), parsed->execArgs.end());
  } else {
    check.test = {"CMD-SHELL", std::string(rest)};
  }
  return check;
}

Result<int64_t> parseGoDuration(std::string_view text) {
  // Units, longest first so "ms" is not read as "m".
  struct Unit {
    std::string_view name;
    double ns;
  };
  constexpr std::array kUnits = {Unit{"ns", 1},  Unit{"us", 1e3}, Unit{"µs", 1e3},  Unit{"ms", 1e6},
                                 Unit{"s", 1e9}, Unit{"m", 60e9}, Unit{"h", 3600e9}};
  if (text == "0")
    return int64_t{0};
  if (text.empty())
    return Error("empty duration");
  double total = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t digits = 0;
    while (digits < rest.size() &&
           (std::isdigit(static_cast<unsigned char>(rest[digits])) || rest[digits] == '.'))
      ++digits;
    if (digits == 0)
      return Error(fmt::format("invalid duration `{}`", text));
    double value = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + digits, value);
    if (ec != std::errc() || end != rest.data() + digits)
      return Error(fmt::format("invalid duration `{}`", text));
    rest.remove_prefix(digits);
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits)
      if (rest.starts_with(u.name) && (unit == nullptr || u.name.size() > unit->name.size()))
        unit = &u;
    if (unit == nullptr)
      return Error(fmt::format("duration `{}` lacks a unit (ns, us, ms, s, m, h)", text));
    rest.remove_prefix(unit->name.size());
    total += value * unit->ns;
  }
  if (total > 9.2e18)
    return Error(fmt::format("duration `{}` is too long", text));
  return static_cast<int64_t>(std::llround(total));
}

}  // namespace berth::build
