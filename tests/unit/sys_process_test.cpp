#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <thread>

#include "shared/sys/process.hpp"

using namespace berth;

namespace {

// A pattern whose every byte depends on its offset: a piece lost, doubled or swapped shows.
std::string patterned(size_t size) {
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i)
    data[i] = static_cast<char>((i * 131 + i / 4093) & 0xff);
  return data;
}

}  // namespace

TEST_CASE("sendMessage/receiveMessage: a 1 MiB message and its fds arrive whole") {
  auto pair = sys::makeSocketPair();
  REQUIRE(pair.ok());
  auto [receiver, sender] = std::move(pair).value();
  auto pipe = sys::makePipe();
  REQUIRE(pipe.ok());
  const std::string data = patterned(1 << 20);
  Status sent = okStatus();
  // Far more than a socket buffer holds: the sender blocks until the receiver reads.
  std::thread thread([&] {
    int fds[] = {pipe->first.get(), pipe->second.get()};
    sent = sys::sendMessage(sender.get(), data, fds);
  });
  sys::Message message;
  Status received = sys::receiveMessage(receiver.get(), message);
  thread.join();
  REQUIRE(sent.ok());
  REQUIRE(received.ok());
  CHECK(message.data.size() == data.size());
  CHECK(message.data == data);
  REQUIRE(message.fds.size() == 2);
  // The fds are the pipe's ends: what goes into the received write end comes out of the pipe.
  REQUIRE(::write(message.fds[1].get(), "x", 1) == 1);
  char byte = 0;
  REQUIRE(::read(pipe->first.get(), &byte, 1) == 1);
  CHECK(byte == 'x');
}

TEST_CASE("sendMessage/receiveMessage: small and empty messages, then the peer's close") {
  auto pair = sys::makeSocketPair();
  REQUIRE(pair.ok());
  auto [receiver, sender] = std::move(pair).value();
  REQUIRE(sys::sendMessage(sender.get(), "Ohello").ok());
  REQUIRE(sys::sendMessage(sender.get(), patterned(32 * 1024)).ok());  // exactly one piece
  sys::Message message;
  REQUIRE(sys::receiveMessage(receiver.get(), message).ok());
  CHECK(message.data == "Ohello");
  CHECK(message.fds.empty());
  REQUIRE(sys::receiveMessage(receiver.get(), message).ok());
  CHECK(message.data == patterned(32 * 1024));
  sender.reset();
  REQUIRE(sys::receiveMessage(receiver.get(), message).ok());
  CHECK(message.data.empty());
  CHECK(message.fds.empty());
}

TEST_CASE("sendMessage/receiveMessage: absurd sizes and cut-off messages are clear errors") {
  auto pair = sys::makeSocketPair();
  REQUIRE(pair.ok());
  auto [receiver, sender] = std::move(pair).value();

  std::string huge(sys::kMaxMessageBytes + 1, 'x');
  Status tooLarge = sys::sendMessage(sender.get(), huge);
  REQUIRE_FALSE(tooLarge.ok());
  CHECK(tooLarge.error().message() ==
        "send message: 67108865 bytes is more than the limit of 64 MiB");

  // A header announcing more than the limit (a corrupt or hostile sender).
  uint64_t announced = uint64_t{1} << 40;
  REQUIRE(::send(sender.get(), &announced, sizeof announced, 0) == sizeof announced);
  sys::Message message;
  Status refused = sys::receiveMessage(receiver.get(), message);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message() ==
        "receive message: 1099511627776 bytes announced, more than the limit of 64 MiB");

  // A sender that dies half-way through a message.
  uint64_t length = 100;
  REQUIRE(::send(sender.get(), &length, sizeof length, 0) == sizeof length);
  REQUIRE(::send(sender.get(), "0123456789", 10, 0) == 10);
  sender.reset();
  Status cut = sys::receiveMessage(receiver.get(), message);
  REQUIRE_FALSE(cut.ok());
  CHECK(cut.error().message() == "receive message: the sender stopped after 10 of 100 bytes");
}
