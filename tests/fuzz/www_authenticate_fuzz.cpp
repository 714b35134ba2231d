// Fuzz target: WWW-Authenticate parsing, token URLs and token responses.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shared/registry/auth.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto challenges = berth::registry::parseWwwAuthenticate(text);
  if (challenges.ok()) {
    for (const auto& c : *challenges)
      (void)berth::registry::tokenUrl(c, "library/ubuntu");
  }
  (void)berth::registry::parseTokenResponse(text);
  (void)berth::registry::base64Decode(text);
  return 0;
}
