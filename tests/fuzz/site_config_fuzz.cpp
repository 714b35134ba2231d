// Fuzz target: berth.conf parsing, and plugstack.conf-style key=value overrides on top.
// Any input must give a SiteConfig or an Error, never a crash, hang or sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shared/config/site_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = berth::config::parseSiteConfig(text, "fuzz.conf");
  if (config.ok()) {
    // Re-apply each line as a plugstack argument: exercises applySetting on the same values.
    size_t eq = text.find('=');
    if (eq != std::string_view::npos)
      (void)berth::config::applySetting(*config, text.substr(0, eq), text.substr(eq + 1));
  }
  return 0;
}
