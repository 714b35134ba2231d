#include "shared/core/cancel.hpp"

#include <cerrno>

#include <fmt/format.h>

namespace berth {

Error cancelledError(std::string_view what) {
  return Error(fmt::format("{}: cancelled", what), ECANCELED);
}

bool isCancellation(const Error& error) {
  return error.errnum() == ECANCELED;
}

bool sleepUnlessCancelled(std::chrono::milliseconds duration, const CancelCheck& check) {
  constexpr std::chrono::milliseconds kSlice(100);
  const auto deadline = std::chrono::steady_clock::now() + duration;
  while (true) {
    if (isCancelled(check))
      return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return false;
    std::this_thread::sleep_for(check ? std::min(left, kSlice) : left);
  }
}

CancelWatch::CancelWatch(std::function<bool()> probe, std::chrono::milliseconds interval)
    : probe_(std::move(probe)), interval_(interval), thread_([this] { run(); }) {}

CancelWatch::~CancelWatch() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void CancelWatch::run() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    lock.unlock();
    bool ended = probe_ && probe_();
    lock.lock();
    if (ended) {
      cancelled_ = true;
      return;
    }
    wake_.wait_for(lock, interval_, [this] { return stop_; });
  }
}

}  // namespace berth
