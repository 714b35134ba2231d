// A small RAII wrapper over one libcurl easy handle: one request at a time, response headers
// of the final response (after redirects) collected, the body either kept or streamed to a sink.
//
// libcurl's defaults that matter are kept: the system CA store, certificate verification, and
// proxies from the environment (http_proxy, https_proxy, no_proxy).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/cancel.hpp"
#include "shared/core/result.hpp"

namespace berth::registry {

// A request body read from a file region (blob uploads): sent as is, re-read on every retry.
struct FileBody {
  int fd = -1;
  int64_t offset = 0;
  int64_t length = 0;
};

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, or with a body: POST, PUT, PATCH
  std::string url;
  std::vector<std::string> headers;      // "Name: value"
  int64_t rangeFrom = 0;                 // > 0: ask for bytes rangeFrom.. (Range header)
  bool allowPlainHttpRedirects = false;  // redirects may go to http:// (insecure registries)
  size_t maxBodyBytes = 0;               // kept bodies only: larger is an error (0 = 64 MiB)
  // POST, PUT and PATCH send `body`, or `fileBody` when its fd is set (Content-Length either way).
  std::string body;
  FileBody fileBody;
  // Called with the bytes of the request body sent so far (uploads' progress).
  std::function<void(int64_t sent)> sent;
  // false: one try only, whatever fails (an upload asks the registry how far it got instead).
  bool retry = true;
  // Polled while the request runs (about once a second even when no byte moves): true aborts
  // it with cancelledError().
  CancelCheck cancelled;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lowercased; last value wins
  std::string body;                            // empty when a sink took the body
  std::string effectiveUrl;
  // The connection closed before the body was complete (Content-Length not reached).
  bool truncated = false;

  // The header's value or "".
  std::string header(std::string_view lowercaseName) const;
};

// Receives body chunks of a 2xx response with its status (200, 206); false aborts the transfer.
using BodySink = std::function<bool(long status, std::string_view chunk)>;

class HttpSession {
 public:
  static Result<HttpSession> create();
  HttpSession(HttpSession&&) noexcept;
  HttpSession& operator=(HttpSession&&) noexcept;
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;
  ~HttpSession();

  // Performs `request`. Transport failures (DNS, connect, TLS, timeouts, a sink abort, a
  // cancellation) are errors; any HTTP status is a response. With a sink, only 2xx bodies go
  // to it.
  Result<HttpResponse> perform(const HttpRequest& request, const BodySink& sink = nullptr);

 private:
  struct Handle;
  explicit HttpSession(std::unique_ptr<Handle> handle);
  std::unique_ptr<Handle> handle_;
};

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string urlEncode(std::string_view text);

}  // namespace berth::registry
