#include "spank_plugin/option_checks.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "shared/core/strings.hpp"
#include "shared/gpu/request.hpp"
#include "shared/slurm/env_preset.hpp"
#include "spank_plugin/task_environment.hpp"

namespace berth::spank {
namespace {

// Flags a bind may carry after the destination.
constexpr std::string_view kMountFlags[] = {
    "ro",  // read-only in the container
    "rw",  // writable (if the user can write the source)
};

bool isAbsolute(std::string_view path) {
  return !path.empty() && path.front() == '/';
}

bool hasDotDot(std::string_view path) {
  for (const std::string& part : split(path, '/')) {
    if (part == "..")
      return true;
  }
  return false;
}

Status checkGpu(std::string_view value) {
  if (value.empty() || value == "auto" || value == "all" || value == "none")
    return okStatus();
  // "0,2", "0-3" (gpu::parseIndexList, what the slurmstepd side parses).
  if (!gpu::parseIndexList(value).ok())
    return Error(fmt::format(
        "--container-gpu: `{}` is not auto, all, none or a list of GPU indexes", value));
  return okStatus();
}

Status checkName(std::string_view name) {
  bool valid = !name.empty() && name.size() <= 64 && name.front() != '.' &&
               std::all_of(name.begin(), name.end(), [](char c) {
                 return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
               });
  if (!valid)
    return Error(fmt::format(
        "--container-name: `{}` is not a name (letters, digits, `_`, `-`, `.`; 64 at most)", name));
  return okStatus();
}

}  // namespace

bool isImagePath(std::string_view image) {
  return !image.empty() &&
         (image.front() == '/' || image.rfind("./", 0) == 0 || image.rfind("../", 0) == 0);
}

Result<std::vector<std::string>> parseMountList(std::string_view option) {
  std::vector<std::string> mounts;
  for (const std::string& rawItem : split(option, ',')) {
    std::string_view item = trim(rawItem);
    std::vector<std::string> fields = split(item, ':');
    auto bad = [&](std::string_view why) {
      return Error(fmt::format("mount `{}`: {}", item, why));
    };
    if (item.empty())
      return bad("empty (expected SRC[:DST[:FLAGS]])");
    if (fields.size() > 3)
      return bad("too many `:` (expected SRC[:DST[:FLAGS]])");
    if (!isAbsolute(fields[0]))
      return bad("the source must be an absolute path");
    if (fields.size() >= 2 && !isAbsolute(fields[1]))
      return bad("the destination must be an absolute path");
    if (hasDotDot(fields[0]) || (fields.size() >= 2 && hasDotDot(fields[1])))
      return bad("`..` is not allowed in mount paths");
    if (fields.size() == 3) {
      for (const std::string& flag : split(fields[2], '+')) {
        if (std::find(std::begin(kMountFlags), std::end(kMountFlags), flag) ==
            std::end(kMountFlags))
          return bad(fmt::format("unknown flag `{}` (ro or rw)", flag));
      }
    }
    mounts.emplace_back(item);
  }
  return mounts;
}

Status checkOptionValues(const OptionValues& values, const config::SiteConfig& site) {
  BERTH_TRY(values.checkConflicts());
  if (auto image = values.get(OptionId::kImage)) {
    if (isImagePath(*image) && !site.allowUserImages)
      return Error(fmt::format(
          "--container-image={}: this site runs only registry or cached images, not squashfs "
          "files named by path (allow_user_images = false)",
          *image));
  }
  if (auto mounts = values.get(OptionId::kMounts))
    BERTH_TRY(parseMountList(*mounts).withContext("--container-mounts"));
  if (auto gpu = values.get(OptionId::kGpu))
    BERTH_TRY(checkGpu(*gpu));
  if (auto caps = values.get(OptionId::kGpuCaps))
    BERTH_TRY(gpu::parseGpuRequest("auto", *caps).withContext("--container-gpu-caps"));
  if (auto workdir = values.get(OptionId::kWorkdir); workdir && !isAbsolute(*workdir))
    return Error(fmt::format("--container-workdir: `{}` is not an absolute path", *workdir));
  if (auto names = values.get(OptionId::kEnv))
    BERTH_TRY(parseEnvironmentNames(*names));
  if (auto preset = values.get(OptionId::kEnvPreset))
    BERTH_TRY(slurm::parseEnvPreset(*preset).withContext("--container-env-preset"));
  if (auto name = values.get(OptionId::kName))
    BERTH_TRY(checkName(*name));
  if (values.has(OptionId::kName) && values.has(OptionId::kReadonly))
    return Error(
        "--container-name keeps a writable container: --container-readonly contradicts it");
  if (values.has(OptionId::kSave) && values.has(OptionId::kReadonly))
    return Error(
        "--container-save saves a writable container: --container-readonly contradicts it");
  if (auto save = values.get(OptionId::kSave); save && save->back() == '/')
    return Error(fmt::format("--container-save: `{}` names a directory, not a file", *save));
  return okStatus();
}

Switches resolveSwitches(const OptionValues& values, const config::SiteConfig& site) {
  auto pick = [&](OptionId on, OptionId off, bool fallback) {
    if (values.has(on))
      return true;
    if (values.has(off))
      return false;
    return fallback;
  };
  Switches switches{
      .writable = pick(OptionId::kWritable, OptionId::kReadonly, site.writable),
      .mountHome = pick(OptionId::kMountHome, OptionId::kNoMountHome, site.mountHome),
      .entrypoint = pick(OptionId::kEntrypoint, OptionId::kNoEntrypoint, site.entrypoint),
  };
  // A named or saved container is writable by nature.
  if (values.has(OptionId::kName) || values.has(OptionId::kSave))
    switches.writable = true;
  return switches;
}

}  // namespace berth::spank
