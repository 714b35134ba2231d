#include "spank_plugin/task_environment.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::spank {
namespace {

// Host variables that reach every containerized task, by prefix or exact name.
struct PassRule {
  std::string_view pattern;
  bool prefix;
};
constexpr PassRule kPassFromHost[] = {
    {"SLURM_", true},    // the task's identity and the job's layout (SLURM_PROCID, ...)
    {"SLURMD_", true},   // SLURMD_NODENAME
    {"PMIX_", true},     // the PMIx server's rendezvous for this task
    {"PMI_", true},      // PMI-1/PMI-2 wire-up (--mpi=pmi2)
    {"OMPI_", true},     // Open MPI's launcher and MCA settings (OMPI_MCA_btl_tcp_if_include)
    {"HOME", false},     // the user's home (bound at the same path by default)
    {"USER", false},     // identity, as a login shell would set it
    {"LOGNAME", false},  // same
    {"TERM", false},     // srun --pty needs it
    {"TMPDIR", false},   // the job's scratch directory when the site sets one
};

// Host values that would point the image's programs at host libraries or host binaries.
constexpr std::string_view kNeverFromHost[] = {"PATH", "LD_LIBRARY_PATH", "LD_PRELOAD"};

// What an image without PATH gets (Docker's default).
constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool passesFromHost(std::string_view name) {
  return std::any_of(std::begin(kPassFromHost), std::end(kPassFromHost), [&](const PassRule& r) {
    return r.prefix ? name.rfind(r.pattern, 0) == 0 : name == r.pattern;
  });
}

std::pair<std::string, std::string> splitEntry(std::string_view entry) {
  size_t eq = entry.find('=');
  if (eq == std::string_view::npos)
    return {std::string(entry), ""};
  return {std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1))};
}

bool isVariableName(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9'))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

bool isHostOnlyVariable(std::string_view name) {
  return std::find(std::begin(kNeverFromHost), std::end(kNeverFromHost), name) !=
         std::end(kNeverFromHost);
}

EnvironmentChanges taskEnvironmentChanges(const std::vector<std::string>& host,
                                          const std::vector<std::string>& image,
                                          const std::vector<std::string>& keepFromHost) {
  std::map<std::string, std::string> hostValues;
  std::vector<std::string> hostOrder;
  for (const std::string& entry : host) {
    auto [name, value] = splitEntry(entry);
    if (hostValues.emplace(name, value).second)
      hostOrder.push_back(name);
  }
  const std::set<std::string> keep(keepFromHost.begin(), keepFromHost.end());

  // Final values, built in precedence order: image, then passing host variables, then the
  // --container-env names.
  std::map<std::string, std::string> final;
  std::vector<std::string> order;
  auto put = [&](const std::string& name, const std::string& value) {
    if (final.insert_or_assign(name, value).second)
      order.push_back(name);
  };
  for (const std::string& entry : image) {
    auto [name, value] = splitEntry(entry);
    put(name, value);
  }
  if (final.count("PATH") == 0)
    put("PATH", std::string(kDefaultPath));
  for (const std::string& name : hostOrder) {
    if (isHostOnlyVariable(name))
      continue;
    if (passesFromHost(name) || keep.count(name) != 0)
      put(name, hostValues[name]);
  }

  EnvironmentChanges changes;
  for (const std::string& name : hostOrder) {
    if (final.count(name) == 0)
      changes.unset.push_back(name);
  }
  for (const std::string& name : order) {
    auto it = hostValues.find(name);
    if (it == hostValues.end() || it->second != final[name])
      changes.set.emplace_back(name, final[name]);
  }
  return changes;
}

std::vector<std::string> applyEnvironmentChanges(const std::vector<std::string>& host,
                                                 const EnvironmentChanges& changes) {
  std::vector<std::string> result;
  std::set<std::string> replaced(changes.unset.begin(), changes.unset.end());
  for (const auto& [name, value] : changes.set)
    replaced.insert(name);
  for (const std::string& entry : host) {
    if (replaced.count(splitEntry(entry).first) == 0)
      result.push_back(entry);
  }
  for (const auto& [name, value] : changes.set)
    result.push_back(name + "=" + value);
  return result;
}

Result<std::vector<std::string>> parseEnvironmentNames(std::string_view option) {
  std::vector<std::string> names;
  for (const std::string& item : split(option, ',')) {
    std::string_view name = trim(item);
    if (!isVariableName(name))
      return Error(fmt::format("--container-env: `{}` is not a variable name", name));
    if (isHostOnlyVariable(name))
      return Error(fmt::format(
          "--container-env: the host's {} never enters the container (it points at host "
          "files); set it in the image or in the command",
          name));
    names.emplace_back(name);
  }
  return names;
}

}  // namespace berth::spank
