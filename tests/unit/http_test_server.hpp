// A scripted HTTP/1.1 server on loopback for unit tests of the HTTP layer: each request (no
// body) is answered by a handler, one request per connection ("Connection: close"), and every
// request is recorded with its headers so a test can check what reached which server.
#pragma once

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "shared/core/unique_fd.hpp"

namespace berth::testing {

struct TestRequest {
  std::string method;
  std::string target;                          // path and query, as sent
  std::map<std::string, std::string> headers;  // names lowercased

  bool has(const std::string& lowercaseName) const { return headers.count(lowercaseName) != 0; }
  std::string header(const std::string& lowercaseName) const {
    auto it = headers.find(lowercaseName);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct TestResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class HttpTestServer {
 public:
  using Handler = std::function<TestResponse(const TestRequest&)>;

  explicit HttpTestServer(Handler handler) : handler_(std::move(handler)) {
    listener_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener_.get(), 16) == 0);
    socklen_t length = sizeof addr;
    REQUIRE(::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &length) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~HttpTestServer() {
    stop_ = true;
    thread_.join();
  }
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  std::string host() const { return fmt::format("127.0.0.1:{}", port_); }
  std::string url(std::string_view path) const { return fmt::format("http://{}{}", host(), path); }
  std::vector<TestRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  bool readable(int fd) const {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) > 0)
        return true;
    }
    return false;
  }

  static TestRequest parse(const std::string& text) {
    TestRequest request;
    size_t lineEnd = text.find("\r\n");
    std::string first = text.substr(0, lineEnd);
    size_t sp1 = first.find(' ');
    size_t sp2 = first.find(' ', sp1 + 1);
    request.method = first.substr(0, sp1);
    request.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t pos = lineEnd + 2;
    while (pos < text.size()) {
      size_t end = text.find("\r\n", pos);
      if (end == std::string::npos || end == pos)
        break;
      std::string line = text.substr(pos, end - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        size_t value = line.find_first_not_of(' ', colon + 1);
        request.headers[name] = value == std::string::npos ? "" : line.substr(value);
      }
      pos = end + 2;
    }
    return request;
  }

  void serve() {
    while (readable(listener_.get())) {
      UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client)
        continue;
      std::string text;
      char buffer[4096];
      while (text.find("\r\n\r\n") == std::string::npos && readable(client.get())) {
        ssize_t n = ::read(client.get(), buffer, sizeof buffer);
        if (n <= 0)
          break;
        text.append(buffer, static_cast<size_t>(n));
      }
      if (text.find("\r\n\r\n") == std::string::npos)
        continue;
      TestRequest request = parse(text);
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
      }
      TestResponse response = handler_(request);
      std::string out = fmt::format("HTTP/1.1 {} X\r\nConnection: close\r\nContent-Length: {}\r\n",
                                    response.status, response.body.size());
      for (const auto& [name, value] : response.headers)
        out += fmt::format("{}: {}\r\n", name, value);
      out += "\r\n";
      if (request.method != "HEAD")
        out += response.body;
      (void)::send(client.get(), out.data(), out.size(), MSG_NOSIGNAL);
    }
  }

  Handler handler_;
  UniqueFd listener_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<TestRequest> requests_;
  std::thread thread_;
};

}  // namespace berth::testing
