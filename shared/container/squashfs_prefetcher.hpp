// The FUSE server's neighbour push: small files into the kernel's page cache.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "shared/container/squashfs_block_cache.hpp"
#include "shared/container/squashfs_fuse_api.hpp"

namespace berth::container::fuse_server {

// A small file whose data lies all in one fragment block.
struct FragmentFile {
  fuse_ino_t ino;
  uint32_t offset;  // in the fragment block
  uint32_t size;
};

// At most this many such files are remembered (24 bytes each).
constexpr size_t kMaxFragmentFiles = 1u << 18;

// Pushes small files into the kernel's page cache (FUSE_NOTIFY_STORE) from the fragment block
// a read just decompressed: a tree's small files are packed into fragment blocks in directory
// order, so whoever reads one of them reads its neighbours next, and each of those reads would
// be a round trip to this server. Best effort, on a thread of its own: a store waits for the
// page lock when a read of the same page is in flight, and the worker threads must stay free
// to answer that read. Files the kernel does not know (any more) are refused by it (ENOENT).
class Prefetcher {
 public:
  Prefetcher(const Api& api, fuse_session* session);

  // Queues the files of `block` to push; dropped when the thread is behind.
  void push(BlockCache::Block block, std::vector<FragmentFile> files);

 private:
  static constexpr size_t kMaxJobs = 64;
  struct Job {
    BlockCache::Block block;
    std::vector<FragmentFile> files;
  };

  [[noreturn]] void run();

  const Api& api_;
  fuse_session* session_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
};

}  // namespace berth::container::fuse_server
