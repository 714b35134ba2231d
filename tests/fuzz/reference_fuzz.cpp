// Fuzz target: image reference parsing. A reference that parses must print back to a
// reference that parses to the same value (less enroot's USER@, which toString() leaves out).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "shared/image/reference.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ref = berth::image::parseImageReference(text);
  if (ref.ok()) {
    auto again = berth::image::parseImageReference(ref->toString());
    berth::image::ImageReference expected = *ref;
    expected.user.clear();
    if (!again.ok() || !(*again == expected))
      std::abort();
    auto withUser = berth::image::parseImageReference(ref->toStringWithUser());
    if (!withUser.ok() || !(*withUser == *ref))
      std::abort();
    (void)ref->apiEndpoint();
  }
  (void)berth::image::normalizeRegistryName(text);
  return 0;
}
