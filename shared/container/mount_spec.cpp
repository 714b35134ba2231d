#include "shared/container/mount_spec.hpp"

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::container {
namespace {

bool hasDotDot(std::string_view path) {
  for (const auto& part : split(path, '/'))
    if (part == "..")
      return true;
  return false;
}

}  // namespace

Result<MountSpec> parseMountSpec(std::string_view text) {
  auto fields = split(text, ':');
  auto fail = [&](std::string_view why) { return Error(fmt::format("bind `{}`: {}", text, why)); };
  if (fields.size() > 3)
    return fail("expected SRC[:DST[:ro|rw]]");
  MountSpec spec;
  spec.source = fields[0];
  if (spec.source.empty())
    return fail("empty source");
  spec.destination = fields.size() >= 2 && !fields[1].empty() ? fields[1] : spec.source;
  if (fields.size() == 3) {
    if (fields[2] == "ro")
      spec.readOnly = true;
    else if (fields[2] != "rw")
      return fail(fmt::format("unknown option `{}` (ro or rw)", fields[2]));
  }
  if (fields.size() == 2 && (fields[1] == "ro" || fields[1] == "rw"))
    return fail("destination missing before the option (write SRC:DST:ro)");
  // A relative source with no destination is fine: resolveSources makes both absolute.
  bool defaulted = fields.size() < 2 || fields[1].empty();
  if (spec.destination.front() != '/' && !(defaulted && spec.source.front() != '/'))
    return fail("the destination must be an absolute path");
  if (hasDotDot(spec.destination))
    return fail("`..` is not allowed in the destination");
  if (spec.destination.find_first_not_of('/') == std::string::npos)
    return fail("cannot bind over the container's root");
  return spec;
}

Result<std::vector<MountSpec>> parseMountSpecList(std::string_view text) {
  std::vector<MountSpec> specs;
  for (const auto& item : split(text, ',')) {
    std::string_view trimmed = trim(item);
    if (trimmed.empty())
      return Error(fmt::format("bind list `{}`: empty item", text));
    BERTH_ASSIGN(MountSpec spec, parseMountSpec(trimmed));
    specs.push_back(std::move(spec));
  }
  return specs;
}

std::vector<MountSpec> resolveSources(std::vector<MountSpec> specs, const std::string& cwd) {
  for (auto& spec : specs) {
    if (spec.source.front() == '/')
      continue;
    bool defaulted = spec.destination == spec.source;
    spec.source = cwd + (cwd.ends_with('/') ? "" : "/") + spec.source;
    if (defaulted)
      spec.destination = spec.source;
  }
  return specs;
}

}  // namespace berth::container
