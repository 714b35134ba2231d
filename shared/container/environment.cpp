#include "shared/container/environment.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::container {
namespace {

enum class Match { kExact, kPrefix };

struct EnvRow {
  std::string_view pattern;
  Match match;
  EnvRole role;
};

// The environment table. Keep in sync with docs/user-guide.md ("Environment").
constexpr EnvRow kEnvTable[] = {
    // Host-only: they point at host software, which the image does not have.
    {"PATH", Match::kExact, EnvRole::kHostOnly},             // host binaries
    {"LD_LIBRARY_PATH", Match::kExact, EnvRole::kHostOnly},  // host libraries
    {"LD_PRELOAD", Match::kExact, EnvRole::kHostOnly},       // host libraries in every process
    {"LD_AUDIT", Match::kExact, EnvRole::kHostOnly},         // same, through the audit interface
    // Per task: a task inside the image needs them to find its rank and the PMIx server.
    {"SLURM_", Match::kPrefix, EnvRole::kPerTask},   // Slurm job/step/task (SLURM_PROCID)
    {"SLURMD_", Match::kPrefix, EnvRole::kPerTask},  // SLURMD_NODENAME
    {"PMIX_", Match::kPrefix, EnvRole::kPerTask},    // the PMIx server's rendezvous
    {"PMI_", Match::kPrefix, EnvRole::kPerTask},     // PMI-1/PMI-2 wire-up (--mpi=pmi2)
    {"OMPI_", Match::kPrefix, EnvRole::kPerTask},    // Open MPI's launcher and MCA settings
    // Identity: the user's home is bound at its host path; images often say HOME=/root.
    {"HOME", Match::kExact, EnvRole::kIdentity},
    {"USER", Match::kExact, EnvRole::kIdentity},
    {"LOGNAME", Match::kExact, EnvRole::kIdentity},
    // Session: what --cleanenv still keeps besides identity and per-task variables.
    {"TERM", Match::kExact, EnvRole::kSession},    // srun --pty and shells need it
    {"TMPDIR", Match::kExact, EnvRole::kSession},  // the job's scratch when the site sets one
};

// What an image without PATH gets (Docker's default).
constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// An ordered map that keeps first-insertion order, so the host's and image's order survive.
class EnvBuilder {
 public:
  void set(std::string_view name, std::string_view value) {
    auto [it, inserted] = index_.try_emplace(std::string(name), entries_.size());
    if (inserted)
      entries_.emplace_back(std::string(name), std::string(value));
    else
      entries_[it->second].second = value;
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

std::pair<std::string_view, std::string_view> splitEntry(std::string_view entry) {
  size_t eq = entry.find('=');
  if (eq == std::string_view::npos)
    return {entry, {}};
  return {entry.substr(0, eq), entry.substr(eq + 1)};
}

bool keptByCleanEnv(EnvRole role) {
  return role == EnvRole::kPerTask || role == EnvRole::kIdentity || role == EnvRole::kSession;
}

// The host's value beats the image's for these rows when the host has one.
bool hostBeatsImage(EnvRole role) {
  return role == EnvRole::kPerTask || role == EnvRole::kIdentity;
}

}  // namespace

EnvRole environmentRole(std::string_view name, std::span<const std::string> siteHostOnly) {
  for (const EnvRow& row : kEnvTable) {
    if (row.match == Match::kExact ? name == row.pattern : name.starts_with(row.pattern))
      return row.role;
  }
  if (std::find(siteHostOnly.begin(), siteHostOnly.end(), name) != siteHostOnly.end())
    return EnvRole::kHostOnly;
  return EnvRole::kOrdinary;
}

bool isVariableName(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9'))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

const std::string* findEnv(const EnvList& env, std::string_view name) {
  for (const auto& entry : env)
    if (entry.size() > name.size() && entry[name.size()] == '=' && entry.starts_with(name))
      return &entry;
  return nullptr;
}

EnvList containerEnvironment(const EnvList& imageEnv, const EnvList& hostEnv,
                             const EnvironmentOptions& options) {
  // The host's values after the face's identity, by name (the first of a repeated name wins,
  // as getenv's does).
  std::map<std::string, std::string, std::less<>> host;
  for (const auto& entry : hostEnv) {
    auto [name, value] = splitEntry(entry);
    if (!name.empty())
      host.try_emplace(std::string(name), value);
  }
  if (!options.home.empty())
    host.insert_or_assign("HOME", options.home);
  if (!options.user.empty()) {
    host.insert_or_assign("USER", options.user);
    host.insert_or_assign("LOGNAME", options.user);
  }
  auto roleOf = [&](std::string_view name) { return environmentRole(name, options.siteHostOnly); };

  EnvBuilder env;
  // 1: the host's variables, minus the host-only ones (--cleanenv: only the kept rows).
  auto passes = [&](std::string_view name) {
    EnvRole role = roleOf(name);
    if (role == EnvRole::kHostOnly)
      return false;
    return options.host == HostEnvironment::kPass || keptByCleanEnv(role);
  };
  for (const auto& entry : hostEnv) {
    std::string_view name = splitEntry(entry).first;
    if (!name.empty() && passes(name))
      env.set(name, host.find(name)->second);
  }
  for (std::string_view name : {"HOME", "USER", "LOGNAME"}) {
    if (auto it = host.find(name); it != host.end() && !env.has(name))
      env.set(name, it->second);
  }
  // 2: the image's Env, but never over the host's per-task and identity values.
  for (const auto& entry : imageEnv) {
    auto [name, value] = splitEntry(entry);
    if (name.empty() || (hostBeatsImage(roleOf(name)) && host.count(name) != 0))
      continue;
    env.set(name, value);
  }
  // 2b: a preset's values, unless the user set the name: the host's value then, over the
  // image's and whatever --cleanenv drops.
  for (const auto& [name, value] : options.preset) {
    auto it = host.find(name);
    env.set(name, it != host.end() ? it->second : value);
  }
  if (!env.has("PATH"))
    env.set("PATH", kDefaultPath);
  // 3: the names the user wants from the host.
  for (const auto& name : options.hostWins) {
    if (auto it = host.find(name); it != host.end())
      env.set(name, it->second);
  }
  // 4: explicit assignments.
  for (const auto& [name, value] : options.set)
    env.set(name, value);
  return env.build();
}

std::string shellQuoted(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::vector<std::string> namesOverImageScript(const EnvList& hostEnv,
                                              const EnvironmentOptions& options) {
  std::vector<std::string> names;
  auto add = [&](std::string_view name) {
    if (std::find(names.begin(), names.end(), name) == names.end())
      names.emplace_back(name);
  };
  for (const auto& entry : hostEnv) {
    std::string_view name = splitEntry(entry).first;
    if (!name.empty() && hostBeatsImage(environmentRole(name, options.siteHostOnly)))
      add(name);
  }
  if (!options.home.empty())
    add("HOME");
  if (!options.user.empty()) {
    add("USER");
    add("LOGNAME");
  }
  for (const auto& [name, value] : options.preset)
    add(name);
  for (const auto& name : options.hostWins)
    if (findEnv(hostEnv, name))
      add(name);
  for (const auto& [name, value] : options.set)
    add(name);
  return names;
}

Result<std::vector<std::string>> parseVariableNames(std::string_view list) {
  std::vector<std::string> names;
  for (const std::string& item : split(list, ',')) {
    std::string_view name = trim(item);
    if (!isVariableName(name))
      return Error(fmt::format("`{}` is not a variable name", name));
    names.emplace_back(name);
  }
  return names;
}

Result<std::pair<std::string, std::string>> parseEnvAssignment(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos)
    return Error(fmt::format("environment `{}`: expected NAME=VALUE", text));
  std::string_view name = text.substr(0, eq);
  if (!isVariableName(name))
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
