// Cancellation of a pull (issue 11, item 5): a CancelCheck stops a stalled download, its
// partial file goes, and waits for a lock end; a CancelWatch turns a slow probe into a flag.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "shared/core/cancel.hpp"
#include "shared/core/file_lock.hpp"
#include "shared/core/temp_dir.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/registry/http.hpp"
#include "shared/registry/registry_client.hpp"

using namespace berth;
namespace fs = std::filesystem;

namespace {

constexpr char kBlobDigest[] =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";
constexpr size_t kBlobSize = 1 << 20;

// An HTTP server on loopback that answers every request with 200 and a body of kBlobSize bytes
// of which it sends only the first half, then stalls (a registry that hangs mid-blob) until
// the client goes away or the server is destroyed.
class StallingServer {
 public:
  StallingServer() {
    listener_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener_.get(), 4) == 0);
    socklen_t length = sizeof addr;
    REQUIRE(::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &length) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~StallingServer() {
    stop_ = true;
    thread_.join();
  }
  std::string host() const { return fmt::format("127.0.0.1:{}", port_); }
  int requests() const { return requests_; }

 private:
  bool readable(int fd) const {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0)
        return true;
    }
    return false;
  }
  void serve() {
    while (readable(listener_.get())) {
      UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client)
        continue;
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos && readable(client.get())) {
        ssize_t n = ::read(client.get(), buffer, sizeof buffer);
        if (n <= 0)
          break;
        request.append(buffer, static_cast<size_t>(n));
      }
      ++requests_;
      std::string head = fmt::format(
          "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
          kBlobSize);
      std::string half(kBlobSize / 2, 'x');
      if (::send(client.get(), head.data(), head.size(), MSG_NOSIGNAL) < 0 ||
          ::send(client.get(), half.data(), half.size(), MSG_NOSIGNAL) < 0)
        continue;
      // Stall: no more bytes; wait for the client to hang up (or the test to end).
      while (readable(client.get())) {
        if (::read(client.get(), buffer, sizeof buffer) <= 0)
          break;
      }
    }
  }

  UniqueFd listener_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

}  // namespace

TEST_CASE("a cancelled HTTP request stops although no byte moves") {
  StallingServer server;
  auto session = registry::HttpSession::create();
  REQUIRE(session.ok());
  std::atomic<bool> cancel{false};
  size_t received = 0;
  registry::HttpRequest request;
  request.url = fmt::format("http://{}/stall", server.host());
  request.cancelled = [&] { return cancel.load(); };
  // The sink sees the first half, then the server stalls: only the progress callback (called
  // about once a second while idle) can notice the cancellation; without it curl would wait
  // for its 60 s low-speed limit.
  auto response = session->perform(request, [&](long, std::string_view chunk) {
    received += chunk.size();
    if (received >= kBlobSize / 2)
      cancel = true;
    return true;
  });
  REQUIRE_FALSE(response.ok());
  CHECK(isCancellation(response.error()));
  CHECK(response.error().message() == request.url + ": cancelled");
  CHECK(received == kBlobSize / 2);

  // Cancelled before it starts: nothing is sent.
  int before = server.requests();
  auto again = session->perform(request);
  REQUIRE_FALSE(again.ok());
  CHECK(isCancellation(again.error()));
  CHECK(server.requests() == before);
}

TEST_CASE("a cancelled blob download leaves no partial file and is not retried") {
  StallingServer server;
  auto dir = TempDir::create(fs::temp_directory_path(), "berth-cancel");
  REQUIRE(dir.ok());
  std::atomic<bool> cancel{false};
  registry::RegistryOptions options;
  options.insecureRegistries = {server.host()};
  options.userConfigDir = (dir->path() / "config").string();
  options.env = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
  options.retries = 4;
  options.backoffBaseMs = 10;
  options.cancelled = [&] { return cancel.load(); };
  auto client = registry::RegistryClient::create(options, Logger());
  REQUIRE(client.ok());
  auto ref = image::parseImageReference(fmt::format("{}/repo@{}", server.host(), kBlobDigest));
  REQUIRE(ref.ok());
  image::Descriptor blob;
  blob.mediaType = "application/vnd.oci.image.layer.v1.tar+gzip";
  blob.digest = kBlobDigest;
  blob.size = static_cast<int64_t>(kBlobSize);
  fs::path dest = dir->path() / registry::blobFileName(kBlobDigest);
  fs::path partial = dest;
  partial += ".partial";
  bool partialSeen = false;
  Status fetched =
      client->fetchBlob(*ref, blob, dest, [&](const image::Descriptor&, int64_t done, int64_t) {
        partialSeen = partialSeen || fs::exists(partial);
        if (done > 0)
          cancel = true;  // part of it is on disk (progress comes every 256 KiB), the rest
                          // never comes
      });
  REQUIRE_FALSE(fetched.ok());
  CHECK(isCancellation(fetched.error()));
  CHECK(fetched.error().message().find("cancelled") != std::string::npos);
  CHECK(partialSeen);
  CHECK_FALSE(fs::exists(partial));
  CHECK_FALSE(fs::exists(dest));
  CHECK(server.requests() == 1);  // no retry, no resume
}

TEST_CASE("a wait for a lock ends when cancelled") {
  auto dir = TempDir::create(fs::temp_directory_path(), "berth-cancel-lock");
  REQUIRE(dir.ok());
  fs::path path = dir->path() / "x.pull";
  auto held = FileLock::acquire(path, LockMode::kExclusive, std::chrono::seconds(1));
  REQUIRE(held.ok());
  std::atomic<int> asked{0};
  auto waited = FileLock::acquire(path, LockMode::kExclusive, std::chrono::hours(1),
                                  [&] { return ++asked >= 3; });
  REQUIRE_FALSE(waited.ok());
  CHECK(isCancellation(waited.error()));
  CHECK(waited.error().message() ==
        fmt::format("wait for the lock `{}`: cancelled", path.string()));
  CHECK(asked == 3);
}

TEST_CASE("CancelWatch: the probe's answer, latched -- sleepUnlessCancelled wakes early") {
  std::atomic<int> probes{0};
  std::atomic<bool> ended{false};
  {
    CancelWatch watch(
        [&] {
          ++probes;
          return ended.load();
        },
        std::chrono::milliseconds(10));
    CancelCheck check = watch.check();
    while (probes < 2)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK_FALSE(check());
    ended = true;
    CHECK(sleepUnlessCancelled(std::chrono::hours(1), check));
    CHECK(watch.cancelled());
    ended = false;
    int seen = probes;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(watch.cancelled());  // stays cancelled, and asks no more
    CHECK(probes == seen);
  }
  CHECK_FALSE(sleepUnlessCancelled(std::chrono::milliseconds(1), {}));
  CHECK_FALSE(isCancelled({}));
}
