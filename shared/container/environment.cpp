#include "shared/container/environment.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::container {
namespace {

// Prefixes of variables set by Slurm and MPI launchers for each task; a task inside the image
// needs them to find its rank and the PMIx server.
constexpr std::string_view kLauncherPrefixes[] = {
    "SLURM_",  // Slurm job/step/task
    "PMIX_",   // PMIx client
    "PMI_",    // PMI-1/2
    "OMPI_",   // Open MPI's launcher (mpirun) and MCA parameters
};

// Host variables that describe the user's terminal session rather than the software.
constexpr std::string_view kSessionVariables[] = {
    "TERM",       // terminal type, for shells and editors
    "COLORTERM",  // colour support
    "DISPLAY",    // X11 forwarding
};

// Never taken from the host by the passthrough rules: they point at host software.
constexpr std::string_view kNeverPassed[] = {"PATH", "LD_LIBRARY_PATH", "LD_PRELOAD"};

constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool validName(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9'))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// An ordered map that keeps first-insertion order, so the image's order survives.
class EnvBuilder {
 public:
  void set(std::string_view name, std::string_view value) {
    auto [it, inserted] = index_.try_emplace(std::string(name), entries_.size());
    if (inserted)
      entries_.emplace_back(std::string(name), std::string(value));
    else
      entries_[it->second].second = value;
  }
  void setEntry(std::string_view entry) {
    auto eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return;
    set(entry.substr(0, eq), entry.substr(eq + 1));
  }
  bool has(std::string_view name) const { return index_.count(std::string(name)) != 0; }
  EnvList build() const {
    EnvList out;
    for (const auto& [name, value] : entries_)
      out.push_back(name + "=" + value);
    return out;
  }

 private:
  std::map<std::string, size_t> index_;
  std::vector<std::pair<std::string, std::string>> entries_;
};

std::string_view nameOf(std::string_view entry) {
  return entry.substr(0, entry.find('='));
}

}  // namespace

const std::string* findEnv(const EnvList& env, std::string_view name) {
  for (const auto& entry : env)
    if (entry.size() > name.size() && entry[name.size()] == '=' && entry.starts_with(name))
      return &entry;
  return nullptr;
}

EnvList containerEnvironment(const EnvList& imageEnv, const EnvList& hostEnv,
                             const EnvironmentOptions& options) {
  EnvBuilder env;
  // 1 + 2: defaults, then the image (PATH's default only when the image has none).
  if (!options.home.empty())
    env.set("HOME", options.home);
  if (!options.user.empty()) {
    env.set("USER", options.user);
    env.set("LOGNAME", options.user);
  }
  for (const auto& entry : imageEnv)
    env.setEntry(entry);
  if (!env.has("PATH"))
    env.set("PATH", kDefaultPath);
  // The user's home is mounted at their host path: images often say HOME=/root.
  if (!options.home.empty())
    env.set("HOME", options.home);
  for (const auto& entry : hostEnv) {
    std::string_view name = nameOf(entry);
    if (std::find(std::begin(kNeverPassed), std::end(kNeverPassed), name) != std::end(kNeverPassed))
      continue;
    bool session = std::find(std::begin(kSessionVariables), std::end(kSessionVariables), name) !=
                   std::end(kSessionVariables);
    bool launcher = std::any_of(std::begin(kLauncherPrefixes), std::end(kLauncherPrefixes),
                                [&](std::string_view p) { return name.starts_with(p); });
    if ((session && !options.cleanEnv) || launcher)
      env.setEntry(entry);
  }
  for (const auto& name : options.hostNames)
    if (const std::string* entry = findEnv(hostEnv, name))
      env.setEntry(*entry);
  for (const auto& [name, value] : options.set)
    env.set(name, value);
  return env.build();
}

Result<std::pair<std::string, std::string>> parseEnvAssignment(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos)
    return Error(fmt::format("environment `{}`: expected NAME=VALUE", text));
  std::string_view name = text.substr(0, eq);
  if (!validName(name))
    return Error(fmt::format("environment `{}`: `{}` is not a valid variable name", text, name));
  return std::pair{std::string(name), std::string(text.substr(eq + 1))};
}

Result<std::vector<std::pair<std::string, std::string>>> parseEnvFile(std::string_view content) {
  std::vector<std::pair<std::string, std::string>> out;
  int lineNumber = 0;
  for (const auto& rawLine : split(content, '\n')) {
    ++lineNumber;
    std::string_view line = trim(rawLine);
    if (line.empty() || line.front() == '#')
      continue;
    if (line.starts_with("export "))
      line = trim(line.substr(7));
    auto parsed = parseEnvAssignment(line);
    if (!parsed.ok())
      return std::move(parsed).error().withContext(fmt::format("line {}", lineNumber));
    out.push_back(std::move(parsed).value());
  }
  return out;
}

}  // namespace berth::container
