#include "shared/container/squashfs_block_cache.hpp"

#include "shared/container/squashfs_server_threads.hpp"

namespace berth::container::fuse_server {

BlockCache::Block BlockCache::get(sqfs* fs, sqfs_off_t pos, uint32_t header) {
  {
    std::lock_guard lock(mutex_);
    if (auto found = index_.find(pos); found != index_.end()) {
      lru_.splice(lru_.begin(), lru_, found->second);
      return found->second->second;
    }
  }
  // Two threads may decompress the same block at once; the second keeps the first's copy.
  handOffLead();
  sqfs_block* raw = nullptr;
  if (api_.dataBlockRead(fs, pos, header, &raw) != SQFS_OK || raw == nullptr)
    return nullptr;
  Block block(raw, [dispose = api_.blockDispose](const sqfs_block* b) {
    dispose(const_cast<sqfs_block*>(b));
  });
  std::lock_guard lock(mutex_);
  if (auto found = index_.find(pos); found != index_.end())
    return found->second->second;
  lru_.emplace_front(pos, block);
  index_.emplace(pos, lru_.begin());
  bytes_ += block->size;
  while (bytes_ > capacity_ && lru_.size() > 1) {
    bytes_ -= lru_.back().second->size;
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return block;
}

}  // namespace berth::container::fuse_server
