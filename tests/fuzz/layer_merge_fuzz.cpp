// Fuzz target: a tar stream (any compression) read by LayerReader and merged by LayerMerger,
// once as a single layer and once as both layers of a two-layer image (upper over itself), so
// whiteouts, opaque directories, cross-layer hard links and paths below a lower layer's symlink
// meet their targets.
#include <cstddef>
#include <cstdint>

#include "shared/convert/layer_merge.hpp"
#include "shared/convert/layer_reader.hpp"

namespace {

void mergeLayer(berth::convert::LayerMerger& merger, const uint8_t* data, size_t size) {
  auto reader = berth::convert::LayerReader::openMemory(data, size);
  if (!reader.ok())
    return;
  char buffer[4096];
  for (int entries = 0; entries < 10000; ++entries) {
    auto entry = reader->next();
    if (!entry.ok() || !*entry)
      return;
    berth::convert::MergeDecision decision = merger.add(**entry);
    if (!decision.readInto)
      continue;
    while (true) {
      auto n = reader->read(buffer, sizeof buffer);
      if (!n.ok() || *n == 0)
        break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (int layers : {1, 2}) {
    berth::convert::LayerMerger merger(berth::convert::MergeOptions{}, berth::Logger());
    for (int i = 0; i < layers; ++i) {
      merger.beginLayer("fuzz");
      mergeLayer(merger, data, size);
    }
    merger.finish();
    // The final tree (LayerMerger's contract): every node has an inode, no hard link is left
    // waiting for its target, link counts are set.
    merger.tree().forEach([&](const berth::convert::FsNode& node) {
      if (!node.inode || node.inode->unresolved || node.inode->nlink == 0)
        __builtin_trap();
    });
  }
  return 0;
}
