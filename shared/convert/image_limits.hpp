// What one image may hold at most (berth.conf max_layers, max_image_entries, max_image_size).
// An image beyond one of them is refused with one line naming the setting, before its data is
// read, so a hostile image (10,000 layers, millions of entries, a compression bomb) cannot
// exhaust a node's memory, disk or time. Checked by the converter (converter.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace berth::convert {

struct ImageLimits {
  size_t layers = 1000;
  int64_t entries = 10'000'000;        // tar entries of all layers together, hidden ones too
  int64_t bytes = int64_t{256} << 30;  // file data of all layers together, uncompressed
};

}  // namespace berth::convert
