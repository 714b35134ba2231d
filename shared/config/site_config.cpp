#include "shared/config/site_config.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <unistd.h>

#include <fmt/format.h>

#include "shared/container/environment.hpp"
#include "shared/core/read_file.hpp"
#include "shared/core/strings.hpp"
#include "shared/core/units.hpp"
#include "shared/sys/trusted_path.hpp"

namespace berth::config {
namespace {

Result<bool> parseBool(std::string_view value) {
  // The spellings admins write in config files.
  static constexpr std::string_view kTrue[] = {"true", "yes", "on", "1"};
  static constexpr std::string_view kFalse[] = {"false", "no", "off", "0"};
  if (std::find(std::begin(kTrue), std::end(kTrue), value) != std::end(kTrue))
    return true;
  if (std::find(std::begin(kFalse), std::end(kFalse), value) != std::end(kFalse))
    return false;
  return Error(fmt::format("`{}` is not a boolean (true/false, yes/no, on/off, 1/0)", value));
}

Result<long> parseInteger(std::string_view value, long min, long max) {
  long number = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec != std::errc() || end != value.data() + value.size())
    return Error(fmt::format("`{}` is not a number", value));
  if (number < min || number > max)
    return Error(fmt::format("`{}` is not in {}..{}", value, min, max));
  return number;
}

// Timeouts: a duration (core/units.hpp: seconds, or with a unit) from a second to a week.
Result<std::chrono::seconds> parseTimeout(std::string_view text) {
  constexpr std::chrono::seconds kWeek(7 * 24 * 3600);
  BERTH_ASSIGN(std::chrono::seconds duration, parseDuration(text));
  if (duration.count() < 1)
    return Error(fmt::format("`{}` is not in 1..{}", text, kWeek.count()));
  if (duration > kWeek)
    return Error(fmt::format("`{}` is longer than a week", text));
  return duration;
}

// Sizes as tmpfs takes them: a number with an optional k/m/g suffix, or a percentage of RAM.
Status checkSize(std::string_view value) {
  std::string_view digits = value;
  if (!digits.empty() && std::string_view("kKmMgG%").find(digits.back()) != std::string_view::npos)
    digits.remove_suffix(1);
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return Error(fmt::format("`{}` is not a size (like 512m, 4g or 50%)", value));
  return okStatus();
}

Result<std::filesystem::path> parsePath(std::string_view value) {
  if (value.empty() || value.front() != '/')
    return Error(fmt::format("`{}` is not an absolute path", value));
  return std::filesystem::path(value);
}

// Comma-separated items, blanks around each removed, empty items rejected.
Result<std::vector<std::string>> parseList(std::string_view value) {
  std::vector<std::string> items;
  for (const std::string& item : split(value, ',')) {
    std::string_view trimmed = trim(item);
    if (trimmed.empty())
      return Error(fmt::format("`{}` has an empty item", value));
    items.emplace_back(trimmed);
  }
  return items;
}

using Setter = Status (*)(SiteConfig&, std::string_view);

struct Row {
  SettingSpec spec;
  Setter set;
};

template <auto Member>
Status setBool(SiteConfig& config, std::string_view value) {
  BERTH_ASSIGN(config.*Member, parseBool(value));
  return okStatus();
}

template <auto Member>
Status setPath(SiteConfig& config, std::string_view value) {
  BERTH_ASSIGN(config.*Member, parsePath(value));
  return okStatus();
}

// The keys of berth.conf. Names are the plugstack.conf argument names too.
constexpr Row kRows[] = {
    {{"image_cache", SettingKind::kPath,
      "directory of the site image cache (shared by all nodes; written only by berth as root)"},
     setPath<&SiteConfig::imageCache>},
    {{"cache_owner", SettingKind::kString,
      "user (name or uid) besides root that may own the site image cache (root-squashed "
      "shared filesystems)"},
     [](SiteConfig& c, std::string_view v) -> Status {
       if (v.empty())
         return Error("a user name or uid is needed");
       c.cacheOwner = std::string(v);
       return okStatus();
     }},
    {{"state_dir", SettingKind::kPath,
      "node-local directory for named containers (kept per node and job, removed at job end)"},
     setPath<&SiteConfig::stateDir>},
    {{"default_mounts", SettingKind::kList,
      "binds added to every container, SRC[:DST[:FLAGS]] comma-separated (repeatable)"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_ASSIGN(auto items, parseList(v));
       c.defaultMounts.insert(c.defaultMounts.end(), items.begin(), items.end());
       return okStatus();
     }},
    {{"writable", SettingKind::kBool, "containers are writable unless --container-readonly"},
     setBool<&SiteConfig::writable>},
    {{"mount_home", SettingKind::kBool, "bind the user's home unless --no-container-mount-home"},
     setBool<&SiteConfig::mountHome>},
    {{"entrypoint", SettingKind::kBool,
      "run the image's entrypoint unless --no-container-entrypoint"},
     setBool<&SiteConfig::entrypoint>},
    {{"allow_user_images", SettingKind::kBool,
      "users may run squashfs files from their own paths (not only cached images)"},
     setBool<&SiteConfig::allowUserImages>},
    {{"insecure_registries", SettingKind::kList,
      "registries (host[:port]) reached over plain HTTP, comma-separated (repeatable)"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_ASSIGN(auto items, parseList(v));
       c.insecureRegistries.insert(c.insecureRegistries.end(), items.begin(), items.end());
       return okStatus();
     }},
    {{"registry_mirrors", SettingKind::kList,
      "pull-through caches, REGISTRY=MIRROR comma-separated (repeatable)"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_ASSIGN(auto items, parseList(v));
       for (const std::string& item : items) {
         size_t eq = item.find('=');
         if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
           return Error(fmt::format("`{}` is not REGISTRY=MIRROR", item));
         c.registryMirrors.push_back(
             {std::string(trim(item.substr(0, eq))), std::string(trim(item.substr(eq + 1)))});
       }
       return okStatus();
     }},
    {{"registry_ca_file", SettingKind::kPath,
      "PEM file of CA certificates trusted for registries besides the system store (a private "
      "CA)"},
     setPath<&SiteConfig::registryCaFile>},
    {{"gpu_library_dirs", SettingKind::kList,
      "extra directories holding the NVIDIA driver libraries, comma-separated (repeatable)"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_ASSIGN(auto items, parseList(v));
       for (const std::string& item : items) {
         BERTH_ASSIGN(auto path, parsePath(item));
         c.gpuLibraryDirs.push_back(std::move(path));
       }
       return okStatus();
     }},
    {{"gpu_driver_root", SettingKind::kPath,
      "tests/debugging: look for the NVIDIA driver under this directory instead of /"},
     setPath<&SiteConfig::gpuDriverRoot>},
    {{"zstd_level", SettingKind::kInt, "zstd compression level of images berth writes (1..22)"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_ASSIGN(long level, parseInteger(v, 1, 22));
       c.zstdLevel = static_cast<int>(level);
       return okStatus();
     }},
    {{"strip_setuid", SettingKind::kBool,
      "remove setuid/setgid bits of image files at conversion (kept by default: images are "
      "mounted nosuid)"},
     setBool<&SiteConfig::stripSetuid>},
    {{"max_layers", SettingKind::kInt,
      "most layers an image may have (more: its pull is refused before any download)"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_ASSIGN(long n, parseInteger(v, 1, 1'000'000));
       c.imageLimits.layers = static_cast<size_t>(n);
       return okStatus();
     }},
    {{"max_image_entries", SettingKind::kInt,
      "most files, directories and links all layers of an image may hold together"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_ASSIGN(c.imageLimits.entries, parseInteger(v, 1, std::numeric_limits<long>::max()));
       return okStatus();
     }},
    {{"max_image_size", SettingKind::kSize,
      "most file data, uncompressed, all layers of an image may hold together (64g, 1t): "
      "the limit of a compression bomb"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_ASSIGN(c.imageLimits.bytes, parseSize(v));
       if (c.imageLimits.bytes < 1)
         return Error(fmt::format("`{}` is not a positive size", v));
       return okStatus();
     }},
    {{"pull_timeout", SettingKind::kDuration,
      "longest a pull, or the wait for another node's pull, may take (seconds, or 10m, 1h)"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_ASSIGN(c.pullTimeout, parseTimeout(v));
       return okStatus();
     }},
    {{"writable_size", SettingKind::kSize,
      "size limit of a writable container's tmpfs layer (512m, 4g, 50% of RAM)"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_TRY(checkSize(v));
       c.writableSize = std::string(v);
       return okStatus();
     }},
    {{"staging_dir", SettingKind::kPath,
      "where the runtime assembles a container's root (inside its private namespace only)"},
     setPath<&SiteConfig::stagingDir>},
    {{"host_files", SettingKind::kList,
      "host files bound read-only into every container when present (replaces the default)"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_ASSIGN(auto items, parseList(v));
       for (const std::string& item : items)
         BERTH_TRY(parsePath(item));
       c.hostFiles = std::move(items);
       return okStatus();
     }},
    {{"allow_unprivileged", SettingKind::kBool,
      "non-root users may run `berth exec/run` in a user namespace (with squashfuse)"},
     setBool<&SiteConfig::allowUnprivileged>},
    {{"allow_fakeroot", SettingKind::kBool,
      "users may be root inside a container, in a user namespace mapped to their own ids "
      "(--fakeroot, --container-remap-root)"},
     setBool<&SiteConfig::allowFakeroot>},
    {{"build_userns", SettingKind::kString,
      "how root inside maps to a user when the user names no mode: auto, subuid (the user's "
      "/etc/subuid range) or single (one id, ownership calls faked)"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_ASSIGN(c.buildUserns, container::parseUsernsChoice(v));
       return okStatus();
     }},
    {{"allow_build", SettingKind::kBool, "users may build images (`berth build`)"},
     setBool<&SiteConfig::allowBuild>},
    {{"build_dir", SettingKind::kPath,
      "node-local directory for build scratch: step layers, copies (default $TMPDIR; NFS, "
      "Lustre and GPFS are refused)"},
     setPath<&SiteConfig::buildDir>},
    {{"squashfuse", SettingKind::kPath,
      "a FUSE squashfs server program for unprivileged containers (default: built in)"},
     setPath<&SiteConfig::squashfuse>},
    {{"host_only_env", SettingKind::kList,
      "host variables that never enter a container, besides PATH and LD_* (comma-separated, "
      "repeatable)"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_ASSIGN(auto items, parseList(v));
       for (const std::string& item : items) {
         if (!container::isVariableName(item))
           return Error(fmt::format("`{}` is not a variable name", item));
       }
       c.hostOnlyEnv.insert(c.hostOnlyEnv.end(), items.begin(), items.end());
       return okStatus();
     }},
    {{"env_preset", SettingKind::kString,
      "environment preset of containerized Slurm steps when the user gives none: pytorch "
      "(MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, ...) or none"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_ASSIGN(c.envPreset, slurm::parseEnvPreset(v));
       return okStatus();
     }},
    {{"host_slurm", SettingKind::kBool,
      "the host's Slurm client (srun, sbatch, scontrol, ...) works inside containerized batch "
      "scripts, after the image's own on PATH"},
     setBool<&SiteConfig::hostSlurm>},
    {{"host_slurm_paths", SettingKind::kList,
      "host paths that client needs at their own place besides Slurm's plugins, configuration "
      "and munge, e.g. the PMIx library directory (comma-separated, repeatable)"},
     [](SiteConfig& c, std::string_view v) -> Status {
       BERTH_ASSIGN(auto items, parseList(v));
       for (const std::string& item : items) {
         BERTH_ASSIGN(auto path, parsePath(item));
         c.hostSlurmPaths.push_back(std::move(path));
       }
       return okStatus();
     }},
};

const Row* findRow(std::string_view key) {
  auto it = std::find_if(std::begin(kRows), std::end(kRows),
                         [key](const Row& row) { return row.spec.key == key; });
  return it == std::end(kRows) ? nullptr : &*it;
}

}  // namespace

std::span<const SettingSpec> settingTable() {
  static const auto kSpecs = [] {
    std::array<SettingSpec, std::size(kRows)> specs{};
    for (size_t i = 0; i < specs.size(); ++i)
      specs[i] = kRows[i].spec;
    return specs;
  }();
  return kSpecs;
}

Status applySetting(SiteConfig& config, std::string_view key, std::string_view value) {
  if (isInjectKey(key))
    return applyInjectSetting(config.injectSets, key, value);
  const Row* row = findRow(key);
  if (row == nullptr)
    return Error(fmt::format("unknown key `{}`", key));
  return row->set(config, value).withContext(key);
}

Result<SiteConfig> parseSiteConfig(std::string_view text, std::string_view origin) {
  SiteConfig config;
  std::set<std::string_view> seen;
  size_t lineNumber = 0;
  for (const std::string& rawLine : split(text, '\n')) {
    ++lineNumber;
    auto where = [&] { return fmt::format("{}:{}", origin, lineNumber); };
    std::string_view line = trim(rawLine);
    // Comments are whole lines: values (URLs, paths) may contain '#'.
    if (line.empty() || line.front() == '#')
      continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos)
      return Error(fmt::format("{}: expected `key = value`, got `{}`", where(), line));
    std::string_view key = trim(line.substr(0, eq));
    std::string_view value = trim(line.substr(eq + 1));
    if (isInjectKey(key)) {
      Status status = applyInjectSetting(config.injectSets, key, value);
      if (!status.ok())
        return std::move(status).error().withContext(where());
      continue;
    }
    const Row* row = findRow(key);
    if (row == nullptr)
      return Error(fmt::format("{}: unknown key `{}`", where(), key));
    if (row->spec.kind != SettingKind::kList && !seen.insert(row->spec.key).second)
      return Error(fmt::format("{}: `{}` is set twice", where(), key));
    Status status = row->set(config, value);
    if (!status.ok())
      return std::move(status).error().withContext(fmt::format("{}: {}", where(), key));
  }
  return config;
}

Result<SiteConfig> loadSiteConfig(const std::filesystem::path& path, bool missingIsDefault) {
  Result<std::string> text = readRegularFile(path, kMaxConfigSize);
  if (!text.ok()) {
    if (text.error().errnum() == ENOENT && missingIsDefault)
      return SiteConfig{};
    return std::move(text).error().withContext("read site configuration");
  }
  // Root-side code (slurmstepd, berth as root) acts on what the file says for every user: a
  // file someone else could have written is refused, as sshd's StrictModes and sudo do.
  if (::geteuid() == 0) {
    BERTH_TRY(sys::checkTrustedPath(path).withContext(fmt::format(
        "refusing site configuration `{}`: only root may be able to change it", path.string())));
  }
  return parseSiteConfig(*text, path.string());
}

Result<SiteConfig> loadDefaultSiteConfig(
    const std::function<std::optional<std::string>(std::string_view)>& getenv) {
  if (std::optional<std::string> path = getenv("BERTH_CONFIG"); path && !path->empty())
    return loadSiteConfig(*path, false).withContext("$BERTH_CONFIG");
  return loadSiteConfig(std::string(kDefaultConfigPath), true);
}

}  // namespace berth::config
