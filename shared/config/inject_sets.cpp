#include "shared/config/inject_sets.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "shared/container/environment.hpp"
#include "shared/core/strings.hpp"

namespace berth::config {
namespace {

constexpr std::string_view kPrefix = "inject.";

bool isSetName(std::string_view name) {
  return !name.empty() && name != "none" && std::ranges::all_of(name, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

Result<std::vector<std::string>> absoluteItems(std::string_view value) {
  std::vector<std::string> items;
  for (const std::string& item : split(value, ',')) {
    std::string_view trimmed = trim(item);
    if (trimmed.empty() || trimmed.front() != '/')
      return Error(fmt::format("`{}` is not an absolute path", trimmed));
    items.emplace_back(trimmed);
  }
  return items;
}

Status setFlag(bool& flag, bool& seen, std::string_view value) {
  if (seen)
    return Error("set twice");
  seen = true;
  if (value == "true" || value == "yes" || value == "on" || value == "1")
    flag = true;
  else if (value == "false" || value == "no" || value == "off" || value == "0")
    flag = false;
  else
    return Error(fmt::format("`{}` is not a boolean (true/false)", value));
  return okStatus();
}

using FieldSetter = Status (*)(InjectSet&, std::string_view);

// The fields of a set (keep in sync with docs/admin-guide.md, "Inject sets").
struct Field {
  std::string_view name;
  FieldSetter set;
};

// Flags are `false` by default; `seenFlags` below tells a repeated one.
constexpr Field kFields[] = {
    {"files",
     [](InjectSet& set, std::string_view value) -> Status {
       BERTH_ASSIGN(auto items, absoluteItems(value));
       for (const std::string& item : items) {
         size_t colon = item.find(':');
         InjectFile file{item.substr(0, colon),
                         colon == std::string::npos ? item : item.substr(colon + 1)};
         if (file.target.empty() || file.target.front() != '/')
           return Error(fmt::format("`{}` is not SRC[:DST] with absolute paths", item));
         set.files.push_back(std::move(file));
       }
       return okStatus();
     }},
    {"libraries",
     [](InjectSet& set, std::string_view value) -> Status {
       BERTH_ASSIGN(auto items, absoluteItems(value));
       set.libraries.insert(set.libraries.end(), items.begin(), items.end());
       return okStatus();
     }},
    {"devices",
     [](InjectSet& set, std::string_view value) -> Status {
       BERTH_ASSIGN(auto items, absoluteItems(value));
       set.devices.insert(set.devices.end(), items.begin(), items.end());
       return okStatus();
     }},
    {"env",
     [](InjectSet& set, std::string_view value) -> Status {
       size_t eq = value.find('=');
       std::string name(trim(value.substr(0, eq)));
       if (eq == std::string_view::npos || !container::isVariableName(name))
         return Error(fmt::format("`{}` is not NAME=VALUE", value));
       set.env.emplace_back(std::move(name), std::string(value.substr(eq + 1)));
       return okStatus();
     }},
};

}  // namespace

bool isInjectKey(std::string_view key) {
  return key.starts_with(kPrefix);
}

Status applyInjectSetting(std::vector<InjectSet>& sets, std::string_view key,
                          std::string_view value) {
  std::string_view rest = key.substr(kPrefix.size());
  size_t dot = rest.rfind('.');
  if (dot == std::string_view::npos)
    return Error(fmt::format("`{}` is not inject.NAME.FIELD", key));
  std::string_view name = rest.substr(0, dot);
  std::string_view field = rest.substr(dot + 1);
  if (!isSetName(name))
    return Error(fmt::format("inject set name `{}`: use a-z, 0-9, '-' and '_'", name));
  auto set = std::ranges::find(sets, name, &InjectSet::name);
  if (set == sets.end()) {
    InjectSet added;
    added.name = std::string(name);
    sets.push_back(std::move(added));
    set = sets.end() - 1;
  }
  auto error = [&](Error e) { return std::move(e).withContext(std::string(key)); };
  if (field == "host_mpi" || field == "default") {
    // A flag set twice: the second line is a mistake (mirrors single-valued keys).
    bool& flag = field == "host_mpi" ? set->hostMpi : set->byDefault;
    bool seen = flag;
    Status status = setFlag(flag, seen, value);
    return status.ok() ? status : error(std::move(status).error());
  }
  auto row = std::ranges::find(kFields, field, &Field::name);
  if (row == std::end(kFields))
    return Error(fmt::format(
        "unknown key `{}` (an inject set has files, libraries, devices, env, host_mpi, default)",
        key));
  Status status = row->set(*set, value);
  return status.ok() ? status : error(std::move(status).error());
}

Result<std::vector<std::string>> parseInjectNames(std::string_view text,
                                                  const std::vector<InjectSet>& sets) {
  std::vector<std::string> names;
  for (const std::string& item : split(text, ',')) {
    std::string name(trim(item));
    if (name == "none" && names.empty() && text.find(',') == std::string_view::npos)
      return std::vector<std::string>{"none"};
    if (std::ranges::find(sets, name, &InjectSet::name) == sets.end()) {
      std::vector<std::string> known;
      for (const InjectSet& set : sets)
        known.push_back(set.name);
      return Error(fmt::format(
          "unknown inject set `{}` (this site has: {})", name,
          known.empty() ? std::string("none") : fmt::format("{}", fmt::join(known, ", "))));
    }
    if (std::ranges::find(names, name) == names.end())
      names.push_back(std::move(name));
  }
  return names;
}

Result<std::vector<const InjectSet*>> selectInjectSets(const std::vector<InjectSet>& sets,
                                                       const std::vector<std::string>& names,
                                                       bool hostMpi) {
  std::vector<const InjectSet*> chosen;
  auto add = [&](const InjectSet& set) {
    if (std::ranges::find(chosen, &set) == chosen.end())
      chosen.push_back(&set);
  };
  bool none = names.size() == 1 && names.front() == "none";
  if (!none) {
    for (const InjectSet& set : sets)
      if (set.byDefault)
        add(set);
    for (const std::string& name : names) {
      auto set = std::ranges::find(sets, name, &InjectSet::name);
      if (set == sets.end())
        return Error(fmt::format("unknown inject set `{}`", name));
      add(*set);
    }
  }
  if (hostMpi) {
    auto set = std::ranges::find_if(sets, &InjectSet::hostMpi);
    if (set == sets.end())
      return Error("host MPI: this site declares no inject set with host_mpi = true (berth.conf)");
    add(*set);
  }
  return chosen;
}

}  // namespace berth::config
