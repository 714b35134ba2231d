// Checks of option values that need no file system and no network: done in srun (early, as
// the user) and again in slurmstepd (which must not trust what reaches it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "shared/config/site_config.hpp"
#include "shared/core/result.hpp"
#include "spank_plugin/options.hpp"

namespace berth::spank {

// A squashfs named by path (`/x.sqsh`, `./x.sqsh`), rather than a reference or cached name.
bool isImagePath(std::string_view image);

// Every value of `values` is well-formed and allowed by the site; conflicts are rejected.
Status checkOptionValues(const OptionValues& values, const config::SiteConfig& site);

// --container-mounts (or default_mounts): SRC[:DST[:FLAGS]], comma-separated, absolute paths.
Result<std::vector<std::string>> parseMountList(std::string_view option);

// What the on/off options come to, given the site's defaults.
struct Switches {
  bool writable;
  bool mountHome;
  bool entrypoint;
};
Switches resolveSwitches(const OptionValues& values, const config::SiteConfig& site);

}  // namespace berth::spank
