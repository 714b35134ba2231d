// Fuzz target: the ld.so.cache parser (shared/gpu/ld_cache). Any bytes must give a cache or an
// error, never a crash or an out-of-bounds read; every entry of a parsed cache holds strings
// that were inside the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "shared/gpu/ld_cache.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto cache = berth::gpu::parseLdCache(bytes);
  if (cache.ok()) {
    for (const auto& entry : cache->entries) {
      if (entry.soname.size() > size || entry.path.size() > size)
        std::abort();
    }
  }
  return 0;
}
