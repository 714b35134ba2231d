// Error: what went wrong, with context added by each layer on the way up.
//
// Messages read outermost first, like crun's: "pull `tiny:latest`: fetch blob sha256:ab..: HTTP
// 404".
#pragma once

#include <string>
#include <string_view>

namespace berth {

class Error {
 public:
  explicit Error(std::string message, int errnum = 0)
      : message_(std::move(message)), errnum_(errnum) {}

  // The errno adapter: "WHAT: strerror(errnum)".
  static Error fromErrno(int errnum, std::string_view what);

  // Prefixes "CONTEXT: " to the message; the errno stays that of the root cause.
  [[nodiscard]] Error withContext(std::string_view context) const&;
  [[nodiscard]] Error withContext(std::string_view context) &&;

  const std::string& message() const { return message_; }
  // The errno of the root cause, or 0 when the error did not come from a system call.
  int errnum() const { return errnum_; }

 private:
  std::string message_;
  int errnum_;
};

}  // namespace berth
