// Fuzz target: /etc/subuid and /etc/subgid text, looked up by name and by uid. Any input must
// give ranges (each non-empty and within 2^32) or none, never a crash, hang or sanitizer report.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "shared/sys/subordinate_ids.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto& [name, id] :
       {std::pair<std::string_view, uint32_t>{"alice", 1001}, {"0", 0}, {"", 4294967295u}}) {
    for (const auto& range : berth::sys::parseSubordinateIds(text, name, id)) {
      if (range.count == 0 || uint64_t{range.start} + range.count > (uint64_t{1} << 32))
        std::abort();
    }
  }
  return 0;
}
