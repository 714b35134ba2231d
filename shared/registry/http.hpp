// A small RAII wrapper over one libcurl easy handle: one request at a time, response headers
// of the final response (after redirects) collected, the body either kept or streamed to a sink.
//
// libcurl's defaults that matter are kept: the system CA store (plus the certificates of
// HttpRequest::caBundle), certificate verification, and proxies from the environment
// (http_proxy, https_proxy, no_proxy).
//
// Redirects of GET and HEAD are followed here, not by libcurl, so that credentials never leave
// the origin they were meant for: HttpRequest::authorization goes only to the scheme, host and
// port of the request's URL, never to the blob storage (S3, R2, a CDN) a registry redirects to.
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
  // GET, HEAD, or with a body: POST, PUT, PATCH. Redirects are followed for GET and HEAD only.
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value", sent to every host of a redirect chain
  // The Authorization header's value ("Bearer ...", "Basic ..."): sent only to the origin
  // (scheme, host, port) of `url`, never to another one a redirect leads to. Empty: none.
  std::string authorization;
  int64_t rangeFrom = 0;                 // > 0: ask for bytes rangeFrom.. (Range header)
  bool allowPlainHttpRedirects = false;  // redirects may go to http:// (insecure registries)
  size_t maxBodyBytes = 0;               // kept bodies only: larger is an error (0 = 64 MiB)
  // The certificate authorities trusted for HTTPS, PEM (trustBundle(): the system's plus the
  // site's and the user's CA files). Null: libcurl's default store.
  std::shared_ptr<const std::string> caBundle;
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
  std::string effectiveUrl;                    // the URL of the final response (after redirects)
  std::string redirectUrl;  // a 3xx's Location, made absolute ("" otherwise or without one)
  // The connection closed before the body was complete (Content-Length not reached).
  bool truncated = false;

  // The header's value or "".
  std::string header(std::string_view lowercaseName) const;
};

// Receives body chunks of a 2xx response with its status (200, 206); false aborts the transfer.
using BodySink = std::function<bool(long status, std::string_view chunk)>;

// Why HttpSession::perform() failed without a response.
enum class HttpFailure {
  kNone,
  kCancelled,
  kTlsUntrusted,     // the server's certificate chain ends at no trusted CA (or is expired)
  kTlsHostMismatch,  // the certificate is for other host names
  kRedirectRefused,  // a redirect to plain HTTP from HTTPS, or too many redirects
  kTransport,        // DNS, connect, TLS handshake, timeouts, a sink abort: worth a retry
};

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
  // to it. A GET or HEAD answered with a redirect (301, 302, 303, 307, 308) is sent again to
  // the new location (at most 10 times; from https only to https unless
  // allowPlainHttpRedirects), without `authorization` once it leaves the request's origin.
  Result<HttpResponse> perform(const HttpRequest& request, const BodySink& sink = nullptr);

  // Why the last perform() returned an error (kNone after a response). The error message of
  // kTlsUntrusted / kTlsHostMismatch is "HOST[:PORT]: TLS certificate not trusted (DETAIL)" /
  // "HOST[:PORT]: TLS certificate is for another host name (DETAIL)".
  HttpFailure lastFailure() const { return lastFailure_; }

 private:
  struct Handle;
  explicit HttpSession(std::unique_ptr<Handle> handle);
  Result<HttpResponse> performOnce(const HttpRequest& request, const std::string& url,
                                   bool withAuthorization, const BodySink& sink);

  std::unique_ptr<Handle> handle_;
  HttpFailure lastFailure_ = HttpFailure::kNone;
};

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string urlEncode(std::string_view text);

// "scheme://host:port" of an http(s) URL, lowercased, with the scheme's default port made
// explicit ("https://Reg.example/v2/" and "https://reg.example:443/x" are one origin); "" when
// `url` is not http(s). Userinfo is not part of it.
std::string urlOrigin(std::string_view url);

// "host[:port]" of an http(s) URL as written (for messages).
std::string urlHost(std::string_view url);

}  // namespace berth::registry
