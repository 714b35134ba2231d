// Fuzz target: Docker config.json (and berth's auth.json) parsing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shared/registry/credentials.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)berth::registry::parseDockerConfig(text);
  return 0;
}
