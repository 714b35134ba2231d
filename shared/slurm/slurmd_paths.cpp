#include "shared/slurm/slurmd_paths.hpp"

#include <glob.h>
#include <strings.h>

#include <optional>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "shared/core/read_file.hpp"
#include "shared/core/strings.hpp"

namespace berth::slurm {
namespace {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// A slurm.conf value: up to a blank, or a double-quoted string.
std::string_view firstValue(std::string_view value) {
  value = trim(value);
  if (!value.empty() && value.front() == '"') {
    size_t end = value.find('"', 1);
    return end == std::string_view::npos ? value.substr(1) : value.substr(1, end - 1);
  }
  size_t blank = value.find_first_of(" \t");
  return blank == std::string_view::npos ? value : value.substr(0, blank);
}

}  // namespace

SlurmdDirPatterns parseSlurmConf(std::string_view text) {
  SlurmdDirPatterns patterns;
  std::optional<std::string> spoolDir;
  std::optional<std::string> tmpFs;
  std::optional<std::string> gresTypes;
  std::optional<std::string> pluginDir;
  std::optional<std::string> authInfo;
  for (const std::string& rawLine : split(text, '\n')) {
    std::string_view line = rawLine;
    if (size_t hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    line = trim(line);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos)
      continue;
    std::string_view key = trim(line.substr(0, eq));
    std::string_view value = firstValue(line.substr(eq + 1));
    if (value.empty())
      continue;
    if (equalsIgnoreCase(key, "SlurmdSpoolDir") && !spoolDir)
      spoolDir = std::string(value);
    else if (equalsIgnoreCase(key, "TmpFS") && !tmpFs)
      tmpFs = std::string(value);
    else if (equalsIgnoreCase(key, "GresTypes") && !gresTypes)
      gresTypes = std::string(value);
    else if (equalsIgnoreCase(key, "PluginDir") && !pluginDir)
      pluginDir = std::string(value);
    else if (equalsIgnoreCase(key, "AuthInfo") && !authInfo)
      authInfo = std::string(value);
  }
  if (gresTypes) {
    for (const std::string& type : split(*gresTypes, ','))
      patterns.gpuGres = patterns.gpuGres || trim(type) == "gpu";
  }
  patterns.pluginDir = pluginDir.value_or("");
  if (authInfo) {
    // AuthInfo=socket=/path,ttl=60: comma-separated settings of the auth plugin.
    for (const std::string& item : split(*authInfo, ',')) {
      std::string_view setting = trim(item);
      if (setting.starts_with("socket="))
        patterns.mungeSocket = std::string(setting.substr(7));
    }
  }
  if (spoolDir)
    patterns.spoolDir = *spoolDir;
  if (tmpFs)
    patterns.tmpFs = *tmpFs;
  return patterns;
}

namespace {

constexpr int kMaxIncludeDepth = 8;

// slurm.conf and the files it includes: text of a few kilobytes at most.
constexpr size_t kMaxSlurmConfBytes = size_t{16} << 20;

Result<std::string> readText(const std::filesystem::path& path) {
  return readRegularFile(path, kMaxSlurmConfBytes);
}

// The files an `Include PATTERN` line names (relative to slurm.conf's directory, wildcards as
// glob(3) expands them, sorted); none when nothing matches.
std::vector<std::filesystem::path> includedFiles(std::string_view pattern,
                                                 const std::filesystem::path& baseDir) {
  std::filesystem::path path(pattern);
  if (path.is_relative())
    path = baseDir / path;
  glob_t matches{};
  std::vector<std::filesystem::path> files;
  if (::glob(path.c_str(), 0, nullptr, &matches) == 0) {
    for (size_t i = 0; i < matches.gl_pathc; ++i)
      files.emplace_back(matches.gl_pathv[i]);
  }
  ::globfree(&matches);
  return files;
}

// slurm.conf with its `Include` lines replaced by the files they name, as Slurm reads it.
// Included files that cannot be read are left out (the settings keep Slurm's defaults).
std::string expandIncludes(const std::string& text, const std::filesystem::path& baseDir,
                           int depth) {
  std::string out;
  for (const std::string& rawLine : split(text, '\n')) {
    std::string_view line = trim(std::string_view(rawLine).substr(0, rawLine.find('#')));
    size_t blank = line.find_first_of(" \t");
    if (depth < kMaxIncludeDepth && blank != std::string_view::npos &&
        equalsIgnoreCase(line.substr(0, blank), "Include")) {
      for (const auto& file : includedFiles(trim(line.substr(blank)), baseDir)) {
        if (auto included = readText(file); included.ok())
          out += expandIncludes(*included, baseDir, depth + 1) + "\n";
      }
      continue;
    }
    out += rawLine + "\n";
  }
  return out;
}

}  // namespace

Result<SlurmdDirPatterns> readSlurmConf(const std::filesystem::path& path) {
  BERTH_ASSIGN(std::string text, readText(path));
  return parseSlurmConf(expandIncludes(text, path.parent_path(), 0));
}

std::optional<std::filesystem::path> nodeSlurmConfPath(
    const std::function<std::optional<std::string>(std::string_view)>& getenv,
    const std::function<bool(const std::filesystem::path&)>& exists) {
  if (std::optional<std::string> file = getenv("SLURM_CONF"); file && !file->empty())
    return std::filesystem::path(*file);
  for (std::string_view file : {kBuiltinSlurmConf, kConfiglessSlurmConf}) {
    if (exists(file))
      return std::filesystem::path(file);
  }
  return std::nullopt;
}

std::string expandNodePattern(std::string_view pattern, std::string_view nodeName,
                              std::string_view hostName) {
  std::string expanded;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%' || i + 1 == pattern.size()) {
      expanded += pattern[i];
      continue;
    }
    switch (pattern[i + 1]) {
      case 'n':
        expanded += nodeName;
        break;
      case 'h':
        expanded += hostName;
        break;
      case '%':
        expanded += '%';
        break;
      default:  // unknown patterns stay as written, as Slurm leaves them
        expanded += pattern.substr(i, 2);
        break;
    }
    ++i;
  }
  return expanded;
}

HostPaths stepHostPaths(const std::filesystem::path& spoolDir, const std::filesystem::path& tmpFs,
                        const StepIdentity& step) {
  HostPaths paths;
  paths.pmixServerDir = spoolDir / fmt::format("pmix.{}.{}", step.jobId, step.stepId);
  paths.pmixClientDir =
      tmpFs / fmt::format("spmix_appdir_{}_{}.{}", step.uid, step.jobId, step.stepId);
  if (step.stepId == kBatchStep)
    paths.batchScript = spoolDir / fmt::format("job{:05}", step.jobId) / "slurm_script";
  return paths;
}

std::vector<std::filesystem::path> existingPaths(const HostPaths& paths) {
  std::vector<std::filesystem::path> existing;
  for (const auto* path : {&paths.pmixServerDir, &paths.pmixClientDir, &paths.batchScript}) {
    std::error_code ignored;
    if (!path->empty() && std::filesystem::exists(*path, ignored))
      existing.push_back(*path);
  }
  return existing;
}

}  // namespace berth::slurm
