// Result<T>: a value or an Error. Every fallible function returns one; nothing throws.
#pragma once

#include <cerrno>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "shared/core/error.hpp"

namespace berth {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value)
      : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::get<1>(std::move(state_)); }

  // The value, or `fallback` when this holds an error.
  T valueOr(T fallback) && { return ok() ? std::move(*this).value() : std::move(fallback); }

  // Adds context to an error; a value passes through unchanged.
  Result withContext(std::string_view context) && {
    if (ok())
      return std::move(*this);
    return std::move(*this).error().withContext(context);
  }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

  Result withContext(std::string_view context) && {
    if (ok_)
      return {};
    return std::move(error_).withContext(context);
  }

 private:
  Error error_{""};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status okStatus() {
  return {};
}

// An Error from the current errno: "WHAT: strerror(errno)".
inline Error errnoError(std::string_view what) {
  return Error::fromErrno(errno, what);
}

}  // namespace berth

#define BERTH_CONCAT_INNER(a, b) a##b
#define BERTH_CONCAT(a, b) BERTH_CONCAT_INNER(a, b)

// Returns the error of `expr` (a Result) from the enclosing function.
#define BERTH_TRY(expr)                            \
  do {                                             \
    auto berth_try_result_ = (expr);               \
    if (!berth_try_result_.ok())                   \
      return std::move(berth_try_result_).error(); \
  } while (0)

// `BERTH_ASSIGN(auto x, expr)`: declares x from the value of `expr`, or returns its error.
#define BERTH_ASSIGN(decl, expr) \
  BERTH_ASSIGN_IMPL(BERTH_CONCAT(berth_assign_, __LINE__), decl, expr)
#define BERTH_ASSIGN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                       \
  if (!tmp.ok())                           \
    return std::move(tmp).error();         \
  decl = std::move(tmp).value()
