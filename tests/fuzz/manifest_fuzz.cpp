// Fuzz target: manifest and index parsing, then platform selection on what parsed.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shared/image/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = berth::image::parseManifestDocument(text, "");
  if (doc.ok() && doc->kind == berth::image::MediaKind::kIndex) {
    (void)berth::image::selectPlatformManifest(doc->manifests,
                                               berth::image::Platform{"linux", "amd64", ""});
    (void)berth::image::selectPlatformManifest(doc->manifests,
                                               berth::image::Platform{"linux", "arm", "v7"});
  }
  return 0;
}
