// ScopeExit: runs a function when the scope ends, unless dismissed.
#pragma once

#include <utility>

namespace berth {

template <typename F>
class [[nodiscard]] ScopeExit {
 public:
  explicit ScopeExit(F fn) : fn_(std::move(fn)) {}
  ScopeExit(ScopeExit&& other) noexcept
      : fn_(std::move(other.fn_)), armed_(std::exchange(other.armed_, false)) {}
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  ScopeExit& operator=(ScopeExit&&) = delete;
  ~ScopeExit() {
    if (armed_)
      fn_();
  }

  // The work succeeded: do not run the clean-up.
  void dismiss() { armed_ = false; }

 private:
  F fn_;
  bool armed_ = true;
};

}  // namespace berth
