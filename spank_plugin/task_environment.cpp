#include "spank_plugin/task_environment.hpp"

#include <map>
#include <set>

namespace berth::spank {
namespace {

std::pair<std::string, std::string> splitEntry(std::string_view entry) {
  size_t eq = entry.find('=');
  if (eq == std::string_view::npos)
    return {std::string(entry), ""};
  return {std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1))};
}

}  // namespace

container::EnvironmentOptions taskEnvironmentOptions(const std::vector<std::string>& keepFromHost,
                                                     bool cleanEnv,
                                                     const config::SiteConfig& site) {
  container::EnvironmentOptions options;
  options.host = cleanEnv ? container::HostEnvironment::kClean : container::HostEnvironment::kPass;
  options.hostWins = keepFromHost;
  options.siteHostOnly = site.hostOnlyEnv;
  return options;
}

EnvironmentChanges taskEnvironmentChanges(const std::vector<std::string>& host,
                                          const std::vector<std::string>& image,
                                          const container::EnvironmentOptions& options) {
  std::map<std::string, std::string> hostValues;
  std::vector<std::string> hostOrder;
  for (const std::string& entry : host) {
    auto [name, value] = splitEntry(entry);
    if (hostValues.emplace(name, value).second)
      hostOrder.push_back(name);
  }
  std::map<std::string, std::string> final;
  std::vector<std::string> order;
  for (const std::string& entry : container::containerEnvironment(image, host, options)) {
    auto [name, value] = splitEntry(entry);
    order.push_back(name);
    final.emplace(std::move(name), std::move(value));
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
  return container::parseVariableNames(option).withContext("--container-env");
}

}  // namespace berth::spank
