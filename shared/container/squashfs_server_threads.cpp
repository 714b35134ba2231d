#include "shared/container/squashfs_server_threads.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace berth::container::fuse_server {
namespace {

class Workers {
 public:
  Workers(const Api& api, fuse_session* session, unsigned maxThreads)
      : api_(api), session_(session), maxThreads_(std::max(maxThreads, 1u)) {}

  // Serves until the connection goes away; the session's error, or 0.
  int run() {
    {
      std::lock_guard lock(mutex_);
      current_ = this;
      ++threads_;
    }
    leading_ = true;
    work();
    std::unique_lock lock(mutex_);
    finished_.wait(lock, [this] { return threads_ == 0; });
    return error_;
  }

  // The calling operation is about to take long: let another thread read the next request.
  static void handOff() {
    Workers* workers = current_;
    if (workers == nullptr || !leading_)
      return;
    leading_ = false;
    std::lock_guard lock(workers->mutex_);
    workers->leaderTaken_ = false;
    if (workers->waiting_ > 0) {
      workers->followers_.notify_one();
    } else if (workers->threads_ < workers->maxThreads_) {
      ++workers->threads_;
      try {
        std::thread([workers] { workers->work(); }).detach();
      } catch (...) {  // no thread: the busy ones take the lead again when done
        --workers->threads_;
      }
    }
  }

 private:
  void work() {
    fuse_buf buffer{};
    for (;;) {
      if (!leading_) {
        std::unique_lock lock(mutex_);
        ++waiting_;
        followers_.wait(lock, [this] { return exiting_ || !leaderTaken_; });
        --waiting_;
        if (exiting_)
          break;
        leaderTaken_ = true;
        leading_ = true;
      }
      int received = api_.sessionExited(session_) ? 0 : api_.receiveBuf(session_, &buffer);
      if (received == -EINTR || received == -EAGAIN)
        continue;
      if (received <= 0) {  // unmounted (0, -ENODEV) or broken
        if (received < 0 && received != -ENODEV)
          api_.sessionExit(session_);
        std::lock_guard lock(mutex_);
        if (received < 0 && received != -ENODEV)
          error_ = received;
        exiting_ = true;
        followers_.notify_all();
        break;
      }
      api_.processBuf(session_, &buffer);
    }
    leading_ = false;
    std::free(buffer.mem);
    std::lock_guard lock(mutex_);
    if (--threads_ == 0)
      finished_.notify_all();
  }

  const Api& api_;
  fuse_session* session_;
  const unsigned maxThreads_;
  std::mutex mutex_;
  std::condition_variable followers_;
  std::condition_variable finished_;
  bool leaderTaken_ = true;  // by the first thread, run()'s
  bool exiting_ = false;
  unsigned threads_ = 0;
  unsigned waiting_ = 0;
  int error_ = 0;
  static inline Workers* current_ = nullptr;  // the child serves one session
  static inline thread_local bool leading_ = false;
};

}  // namespace

void handOffLead() {
  Workers::handOff();
}

int serveOnThreads(const Api& api, fuse_session* session, unsigned maxThreads) {
  return Workers(api, session, maxThreads).run();
}

}  // namespace berth::container::fuse_server
