#include "spank_plugin/plugstack_args.hpp"

#include <fmt/format.h>

namespace berth::spank {
namespace {

struct Argument {
  std::string_view key;
  std::string_view value;
};

Result<std::vector<Argument>> splitArguments(const std::vector<std::string>& arguments) {
  std::vector<Argument> split;
  for (const std::string& argument : arguments) {
    size_t eq = argument.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error(fmt::format("argument `{}` is not key=value", argument));
    split.push_back(
        {std::string_view(argument).substr(0, eq), std::string_view(argument).substr(eq + 1)});
  }
  return split;
}

}  // namespace

Result<config::SiteConfig> siteConfigFromPlugstack(const std::vector<std::string>& arguments,
                                                   const GetEnv& getenv) {
  auto run = [&]() -> Result<config::SiteConfig> {
    BERTH_ASSIGN(std::vector<Argument> split, splitArguments(arguments));
    std::optional<std::string_view> configPath;
    for (const Argument& argument : split) {
      if (argument.key != "config")
        continue;
      if (configPath)
        return Error("`config` is given twice");
      if (argument.value.empty() || argument.value.front() != '/')
        return Error(fmt::format("config: `{}` is not an absolute path", argument.value));
      configPath = argument.value;
    }
    BERTH_ASSIGN(config::SiteConfig site,
                 configPath ? config::loadSiteConfig(std::string(*configPath), false)
                            : config::loadDefaultSiteConfig(getenv));
    for (const Argument& argument : split) {
      if (argument.key == "config")
        continue;
      BERTH_TRY(config::applySetting(site, argument.key, argument.value));
    }
    return site;
  };
  return run().withContext("plugstack.conf arguments");
}

}  // namespace berth::spank
