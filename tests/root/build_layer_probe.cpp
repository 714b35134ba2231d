// build_layer_probe UPPER OUT.tar.gz [SOURCE_DATE_EPOCH]: writes the OCI layer of an overlay
// upper directory (shared/build/layer_writer.hpp) and prints "DIGEST DIFF_ID SIZE ENTRIES", for
// tests/root/test_build_layer_umoci.sh.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "shared/build/layer_writer.hpp"

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: build_layer_probe UPPER OUT.tar.gz [SOURCE_DATE_EPOCH]\n");
    return 2;
  }
  berth::build::LayerWriteOptions options;
  if (argc == 4)
    options.sourceDateEpoch = std::stoll(argv[3]);
  auto blob = berth::build::writeLayerFromUpper(argv[1], argv[2], options);
  if (!blob.ok()) {
    std::fprintf(stderr, "build_layer_probe: %s\n", blob.error().message().c_str());
    return 1;
  }
  std::printf("%s %s %lld %lld\n", blob->digest.c_str(), blob->diffId.c_str(),
              static_cast<long long>(blob->size), static_cast<long long>(blob->entries));
  return 0;
}
