// The FUSE server's cache of decompressed data and fragment blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "shared/container/squashfs_fuse_api.hpp"

namespace berth::container::fuse_server {

// Decompressed data and fragment blocks, keyed by their place in the image, shared by the
// server's threads; least recently used out first.
class BlockCache {
 public:
  using Block = std::shared_ptr<const sqfs_block>;

  BlockCache(const Api& api, size_t capacityBytes) : api_(api), capacity_(capacityBytes) {}

  // The block at `pos` (its on-disk header `header`), read with `fs` when missing; null on a
  // read or decompression error.
  Block get(sqfs* fs, sqfs_off_t pos, uint32_t header);

 private:
  const Api& api_;
  const size_t capacity_;
  std::mutex mutex_;
  std::list<std::pair<sqfs_off_t, Block>> lru_;
  std::unordered_map<sqfs_off_t, std::list<std::pair<sqfs_off_t, Block>>::iterator> index_;
  size_t bytes_ = 0;
};

}  // namespace berth::container::fuse_server
