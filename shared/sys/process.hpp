// Child processes and the messages the container helper sends back to its parent.
#pragma once

#include <sys/types.h>

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/core/result.hpp"
#include "shared/core/unique_fd.hpp"

namespace berth::sys {

// The shell convention: the exit status, or 128 + N for a child killed by signal N.
int exitCodeFromWaitStatus(int status);

// waitpid that retries on EINTR; returns the raw wait status.
[[nodiscard]] Result<int> waitForProcess(pid_t pid);

// A pipe (close-on-exec), read end first: how a forked child reports an error or a result.
[[nodiscard]] Result<std::pair<UniqueFd, UniqueFd>> makePipe();

// A SOCK_SEQPACKET pair (close-on-exec): message boundaries survive, fds travel with them.
[[nodiscard]] Result<std::pair<UniqueFd, UniqueFd>> makeSocketPair();

struct Message {
  std::string data;
  std::vector<UniqueFd> fds;
};

// The largest message sendMessage() passes: far above any real one (an image config with
// thousands of history entries is a few MiB); only a runaway size is refused.
// Keep in sync with docs/running.md ("Large image configs").
inline constexpr size_t kMaxMessageBytes = size_t{64} << 20;

// One message of any size up to kMaxMessageBytes with up to 8 descriptors (SCM_RIGHTS). A
// SOCK_SEQPACKET packet is bounded by the socket's buffer, so the message travels as a header
// packet (its length, the fds, the first piece of data) and then as many data packets as it
// needs; the receiver reassembles them. Blocks until the receiver has taken all but the last
// pieces: the two ends must not both send at once.
[[nodiscard]] Status sendMessage(int socket, std::string_view data, std::span<const int> fds = {});
// Receives one message into `out`; an empty `data` with no fds means the peer closed the socket.
[[nodiscard]] Status receiveMessage(int socket, Message& out);

// Writes all of `data` to `fd` (for pipes), retrying short writes.
[[nodiscard]] Status writeAll(int fd, std::string_view data);
// Reads `fd` to its end.
[[nodiscard]] Result<std::string> readAll(int fd);

}  // namespace berth::sys

namespace berth::sys {

// Owns a child process: on destruction it is sent SIGTERM and reaped, unless released.
class ChildProcess {
 public:
  ChildProcess() = default;
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  ChildProcess(ChildProcess&& other) noexcept : pid_(other.release()) {}
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { terminate(); }

  pid_t pid() const { return pid_; }
  pid_t release() { return std::exchange(pid_, -1); }
  // SIGTERM and reap (no-op when empty).
  void terminate() noexcept;

 private:
  pid_t pid_ = -1;
};

}  // namespace berth::sys
