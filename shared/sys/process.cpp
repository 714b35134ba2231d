#include "shared/sys/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::sys {
namespace {
constexpr size_t kMaxFds = 8;
constexpr size_t kMaxMessage = 64 * 1024;
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

Status sendMessage(int socket, std::string_view data, std::span<const int> fds) {
  if (fds.size() > kMaxFds || data.size() > kMaxMessage)
    return Error("message too large");
  char empty = 0;
  iovec iov{const_cast<char*>(data.empty() ? &empty : data.data()), data.empty() ? 1 : data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
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

Status receiveMessage(int socket, Message& message) {
  std::string buffer(kMaxMessage, '\0');
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
  message.fds.clear();
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
      continue;
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
      message.fds.emplace_back(fd);
    }
  }
  buffer.resize(static_cast<size_t>(n));
  message.data = std::move(buffer);
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
