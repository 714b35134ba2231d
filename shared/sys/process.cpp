#include "shared/sys/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

namespace berth::sys {
namespace {
constexpr size_t kMaxFds = 8;
// Data per packet: well below the default socket buffer (about 200 KiB), which bounds a
// SOCK_SEQPACKET packet.
constexpr size_t kChunkBytes = 32 * 1024;
}  // namespace

int exitCodeFromWaitStatus(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return 255;
}

Result<int> waitForProcess(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return errnoError("wait for child process");
  }
  return status;
}

Result<std::pair<UniqueFd, UniqueFd>> makePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return errnoError("pipe");
  return std::pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Result<std::pair<UniqueFd, UniqueFd>> makeSocketPair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    return errnoError("socketpair");
  return std::pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

namespace {

// One packet: a header, data and fds (on the first packet only).
Status sendPacket(int socket, std::span<const iovec> parts, std::span<const int> fds) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(parts.data());
  msg.msg_iovlen = parts.size();
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  if (!fds.empty()) {
    std::memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  while (::sendmsg(socket, &msg, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR)
      return errnoError("send message");
  }
  return okStatus();
}

// One packet into `buffer`; fds, if any, are appended to `fds`. Returns its size (0: the
// peer closed the socket).
Result<size_t> receivePacket(int socket, std::span<char> buffer, std::vector<UniqueFd>* fds) {
  iovec iov{buffer.data(), buffer.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  while ((n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC)) < 0) {
    if (errno != EINTR)
      return errnoError("receive message");
  }
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
      continue;
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
      UniqueFd owned(fd);  // closed at once when it was not expected here
      if (fds)
        fds->push_back(std::move(owned));
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
    return Error("receive message: malformed packet (larger than expected)");
  return static_cast<size_t>(n);
}

}  // namespace

Status sendMessage(int socket, std::string_view data, std::span<const int> fds) {
  if (fds.size() > kMaxFds)
    return Error(fmt::format("send message: {} descriptors, at most {}", fds.size(), kMaxFds));
  if (data.size() > kMaxMessageBytes)
    return Error(fmt::format("send message: {} bytes is more than the limit of {} MiB", data.size(),
                             kMaxMessageBytes >> 20));
  uint64_t length = data.size();
  size_t first = std::min(data.size(), kChunkBytes);
  iovec header[] = {{&length, sizeof length}, {const_cast<char*>(data.data()), first}};
  BERTH_TRY(sendPacket(socket, std::span(header, first ? 2 : 1), fds));
  for (size_t offset = first; offset < data.size(); offset += kChunkBytes) {
    iovec piece{const_cast<char*>(data.data() + offset),
                std::min(kChunkBytes, data.size() - offset)};
    BERTH_TRY(sendPacket(socket, std::span(&piece, 1), {}));
  }
  return okStatus();
}

Status receiveMessage(int socket, Message& message) {
  message.data.clear();
  message.fds.clear();
  std::string first(sizeof(uint64_t) + kChunkBytes, '\0');
  BERTH_ASSIGN(size_t n, receivePacket(socket, first, &message.fds));
  if (n == 0)
    return okStatus();  // closed
  uint64_t length = 0;
  if (n < sizeof length)
    return Error("receive message: malformed header");
  std::memcpy(&length, first.data(), sizeof length);
  if (length > kMaxMessageBytes)
    return Error(fmt::format("receive message: {} bytes announced, more than the limit of {} MiB",
                             length, kMaxMessageBytes >> 20));
  if (n - sizeof length > length)
    return Error("receive message: more data than announced");
  message.data.resize(length);
  size_t received = n - sizeof length;
  std::memcpy(message.data.data(), first.data() + sizeof length, received);
  while (received < length) {
    size_t want = std::min(kChunkBytes, length - received);
    BERTH_ASSIGN(size_t piece,
                 receivePacket(socket, std::span(message.data.data() + received, want), nullptr));
    if (piece == 0)
      return Error(fmt::format("receive message: the sender stopped after {} of {} bytes", received,
                               length));
    received += piece;
  }
  return okStatus();
}

Status writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errnoError("write");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return okStatus();
}

Result<std::string> readAll(int fd) {
  std::string out;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errnoError("read");
    if (n == 0)
      return out;
    out.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace berth::sys

namespace berth::sys {

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    terminate();
    pid_ = other.release();
  }
  return *this;
}

void ChildProcess::terminate() noexcept {
  if (pid_ <= 0)
    return;
  ::kill(pid_, SIGTERM);
  (void)waitForProcess(pid_);
  pid_ = -1;
}

}  // namespace berth::sys
