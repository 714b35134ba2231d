// Cancellation of long work (a pull, a wait for a lock): the caller hands down a CancelCheck,
// the work polls it (about once a second at least) and stops with cancelledError().
//
// slurmstepd pulls an image while the step starts; when the job is cancelled meanwhile, Slurm
// only queues its kill until the tasks exist (Slurm 22.05, slurmstepd/req.c
// _wait_for_job_running), so the pull itself has to notice and stop.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>

#include "shared/core/error.hpp"

namespace berth {

// True: stop what you are doing. An empty check never cancels. Called from any thread.
using CancelCheck = std::function<bool()>;

inline bool isCancelled(const CancelCheck& check) {
  return check && check();
}

// The error of cancelled work: "WHAT: cancelled", errnum ECANCELED (isCancellation()).
Error cancelledError(std::string_view what);
bool isCancellation(const Error& error);

// Sleeps for `duration`, waking early when `check` says cancel (polled every 100 ms).
// Returns whether it was cancelled.
bool sleepUnlessCancelled(std::chrono::milliseconds duration, const CancelCheck& check);

// Asks `probe` (an expensive question, such as an RPC "has the step ended?") every `interval`
// on a thread of its own, until destroyed; cancelled() answers from the last result, cheaply,
// from any thread. Once the probe said true, the answer stays true.
class CancelWatch {
 public:
  CancelWatch(std::function<bool()> probe, std::chrono::milliseconds interval);
  CancelWatch(const CancelWatch&) = delete;
  CancelWatch& operator=(const CancelWatch&) = delete;
  ~CancelWatch();  // stops the thread (without waiting for the next interval) and joins it

  bool cancelled() const { return cancelled_.load(); }
  // A CancelCheck reading this watch; valid while the watch lives.
  CancelCheck check() const {
    return [this] { return cancelled(); };
  }

 private:
  void run();

  std::function<bool()> probe_;
  std::chrono::milliseconds interval_;
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;  // last: started once everything it uses exists
};

}  // namespace berth
