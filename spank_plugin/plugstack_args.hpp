// The plugin's arguments from plugstack.conf: `required spank_berth.so key=value ...`.
//
// `config=PATH` names the berth.conf to read (instead of $BERTH_CONFIG or
// /etc/berth/berth.conf); every other argument is a berth.conf key that overrides the file.
// Parsing is strict: a bad argument is an admin error, reported in the Slurm log, and the
// plugin refuses to load.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/config/site_config.hpp"
#include "shared/core/result.hpp"
#include "spank_plugin/spank_context.hpp"

namespace berth::spank {

// The site configuration in effect for the plugin.
Result<config::SiteConfig> siteConfigFromPlugstack(const std::vector<std::string>& arguments,
                                                   const GetEnv& getenv);

}  // namespace berth::spank
