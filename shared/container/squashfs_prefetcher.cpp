#include "shared/container/squashfs_prefetcher.hpp"

namespace berth::container::fuse_server {

Prefetcher::Prefetcher(const Api& api, fuse_session* session) : api_(api), session_(session) {
  std::thread([this] { run(); }).detach();
}

void Prefetcher::push(BlockCache::Block block, std::vector<FragmentFile> files) {
  std::lock_guard lock(mutex_);
  if (jobs_.size() >= kMaxJobs)
    return;  // behind: the readers will ask
  jobs_.push_back({std::move(block), std::move(files)});
  wake_.notify_one();
}

void Prefetcher::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return !jobs_.empty(); });
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    for (const FragmentFile& file : job.files) {
      if (static_cast<size_t>(file.offset) + file.size > job.block->size)
        continue;  // a corrupt image: the reader's own request will fail
      fuse_bufvec data = FUSE_BUFVEC_INIT(file.size);
      data.buf[0].mem = static_cast<char*>(job.block->data) + file.offset;
      (void)api_.notifyStore(session_, file.ino, 0, &data, fuse_buf_copy_flags{});
    }
  }
}

}  // namespace berth::container::fuse_server
