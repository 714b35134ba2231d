#include "shared/registry/http.hpp"

#include "shared/registry/curl_library.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::registry {

namespace {

constexpr size_t kDefaultMaxBody = 64 << 20;
// Give up on a connection that moves less than 1 byte/s for this long (a hung registry).
constexpr long kLowSpeedSeconds = 60;
constexpr long kConnectTimeoutSeconds = 30;
// Redirects followed per request (libcurl's own default is 30; browsers use 20).
constexpr int kMaxRedirects = 10;

struct CurlSlist {
  const CurlLibrary& curl;
  curl_slist* list = nullptr;
  ~CurlSlist() { curl.slistFreeAll(list); }
  void append(const std::string& s) { list = curl.slistAppend(list, s.c_str()); }
};

struct Transfer {
  HttpResponse* response;
  const BodySink* sink;
  size_t maxBody;
  const CancelCheck* cancelled;
  bool aborted = false;
  bool tooLarge = false;
};

size_t onHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  // A new status line starts a new response (redirects, 100-continue): forget older headers.
  if (line.starts_with("HTTP/")) {
    t->response->headers.clear();
    t->response->body.clear();
    // "HTTP/1.1 200 OK" or "HTTP/2 200": the body callback needs the status before curl has it.
    size_t space = line.find(' ');
    if (space != std::string_view::npos)
      t->response->status =
          std::strtol(std::string(line.substr(space + 1, 3)).c_str(), nullptr, 10);
    return line.size();
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(trim(line.substr(0, colon)));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    t->response->headers[name] = std::string(trim(line.substr(colon + 1)));
  }
  return line.size();
}

size_t onBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view chunk(data, size * count);
  // Only a successful response goes to the sink; error bodies are kept (small) for messages.
  if (t->sink != nullptr && *t->sink && t->response->status >= 200 && t->response->status < 300) {
    if (!(*t->sink)(t->response->status, chunk)) {
      t->aborted = true;
      return 0;
    }
    return chunk.size();
  }
  if (t->response->body.size() + chunk.size() > t->maxBody) {
    t->tooLarge = true;
    return 0;
  }
  t->response->body.append(chunk);
  return chunk.size();
}

// The body of a POST, PUT or PATCH, handed to libcurl piece by piece (from memory or a file).
struct UploadSource {
  const HttpRequest* request;
  int64_t position = 0;  // bytes handed to libcurl so far
  int readErrno = 0;     // a failed read of the file body

  bool fromFile() const { return request->fileBody.fd >= 0; }
  int64_t length() const {
    return fromFile() ? request->fileBody.length : static_cast<int64_t>(request->body.size());
  }
};

size_t onUpload(char* buffer, size_t size, size_t count, void* user) {
  auto* u = static_cast<UploadSource*>(user);
  size_t want = static_cast<size_t>(
      std::min<int64_t>(static_cast<int64_t>(size * count), u->length() - u->position));
  if (want == 0)
    return 0;
  ssize_t n = 0;
  if (u->fromFile()) {
    const FileBody& file = u->request->fileBody;
    do {
      n = ::pread(file.fd, buffer, want, file.offset + u->position);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      u->readErrno = n < 0 ? errno : EIO;  // 0: the file is shorter than the body promised
      return CURL_READFUNC_ABORT;
    }
  } else {
    n = static_cast<ssize_t>(want);
    std::memcpy(buffer, u->request->body.data() + u->position, want);
  }
  u->position += n;
  if (u->request->sent)
    u->request->sent(u->position);
  return static_cast<size_t>(n);
}

// A redirect or an authentication retry inside libcurl sends the body again from the start.
int onUploadSeek(void* user, curl_off_t offset, int origin) {
  auto* u = static_cast<UploadSource*>(user);
  if (origin != SEEK_SET || offset < 0 || offset > u->length())
    return CURL_SEEKFUNC_CANTSEEK;
  u->position = offset;
  return CURL_SEEKFUNC_OK;
}

// libcurl's progress callback: non-zero aborts the transfer (CURLE_ABORTED_BY_CALLBACK).
int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return isCancelled(*t->cancelled) ? 1 : 0;
}

}  // namespace

struct HttpSession::Handle {
  const CurlLibrary* library = nullptr;
  CURL* curl = nullptr;
  char errorBuffer[CURL_ERROR_SIZE] = {};
  ~Handle() {
    if (curl != nullptr)
      library->easyCleanup(curl);
  }
};

HttpSession::HttpSession(std::unique_ptr<Handle> handle) : handle_(std::move(handle)) {}
HttpSession::HttpSession(HttpSession&&) noexcept = default;
HttpSession& HttpSession::operator=(HttpSession&&) noexcept = default;
HttpSession::~HttpSession() = default;

Result<HttpSession> HttpSession::create() {
  auto handle = std::make_unique<Handle>();
  BERTH_ASSIGN(handle->library, curlLibrary());
  handle->curl = handle->library->easyInit();
  if (handle->curl == nullptr)
    return Error("libcurl: cannot create a handle");
  return HttpSession(std::move(handle));
}

std::string HttpResponse::header(std::string_view lowercaseName) const {
  auto it = headers.find(std::string(lowercaseName));
  return it == headers.end() ? std::string() : it->second;
}

namespace {

bool isRedirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// libcurl's detail of a certificate failure without its "SSL certificate problem: " prefix.
std::string certificateDetail(std::string_view buffer) {
  std::string_view text = trim(buffer);
  for (std::string_view prefix : {"SSL certificate problem: ", "SSL: "}) {
    if (text.starts_with(prefix))
      text.remove_prefix(prefix.size());
  }
  return std::string(text);
}

}  // namespace

Result<HttpResponse> HttpSession::perform(const HttpRequest& request, const BodySink& sink) {
  lastFailure_ = HttpFailure::kNone;
  const bool follow = request.method == "GET" || request.method == "HEAD";
  const std::string origin = urlOrigin(request.url);
  std::string url = request.url;
  for (int hop = 0;; ++hop) {
    // Credentials go only where the request was addressed: a registry's blob storage gets a
    // pre-signed URL and nothing else (and S3 refuses a request with two kinds of auth).
    BERTH_ASSIGN(HttpResponse response,
                 performOnce(request, url, !origin.empty() && urlOrigin(url) == origin, sink));
    if (!follow || !isRedirect(response.status))
      return response;
    std::string next = response.redirectUrl;
    if (next.empty() || next == url)
      return response;  // a redirect without a usable Location: the caller sees the status
    if (hop + 1 >= kMaxRedirects) {
      lastFailure_ = HttpFailure::kRedirectRefused;
      return Error(fmt::format("{}: more than {} redirects", request.url, kMaxRedirects));
    }
    bool https = next.starts_with("https://");
    if (!https && !(request.allowPlainHttpRedirects && next.starts_with("http://"))) {
      lastFailure_ = HttpFailure::kRedirectRefused;
      return Error(
          fmt::format("{}: redirect to {} refused: only https is allowed", request.url,
                      urlOrigin(next).empty() ? std::string("`" + next + "`") : urlOrigin(next)));
    }
    url = std::move(next);
  }
}

Result<HttpResponse> HttpSession::performOnce(const HttpRequest& request, const std::string& url,
                                              bool withAuthorization, const BodySink& sink) {
  const CurlLibrary& api = *handle_->library;
  CURL* curl = handle_->curl;
  if (isCancelled(request.cancelled)) {
    lastFailure_ = HttpFailure::kCancelled;
    return cancelledError(request.url);
  }
  api.easyReset(curl);
  HttpResponse response;
  Transfer transfer{&response, &sink, request.maxBodyBytes ? request.maxBodyBytes : kDefaultMaxBody,
                    &request.cancelled};
  CurlSlist headers{api};
  for (const std::string& h : request.headers)
    headers.append(h);
  if (withAuthorization && !request.authorization.empty())
    headers.append("Authorization: " + request.authorization);
  UploadSource upload{&request};
  bool hasBody = request.method == "POST" || request.method == "PUT" || request.method == "PATCH";
  if (hasBody)
    headers.append("Expect:");  // no 100-continue round trip before every body

  handle_->errorBuffer[0] = '\0';
  api.easySetopt(curl, CURLOPT_ERRORBUFFER, handle_->errorBuffer);
  api.easySetopt(curl, CURLOPT_URL, url.c_str());
  api.easySetopt(curl, CURLOPT_HTTPHEADER, headers.list);
  api.easySetopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  // Redirects are followed by perform(), hop by hop (credentials stay with their origin); the
  // Location libcurl resolves comes back as CURLINFO_REDIRECT_URL.
  api.easySetopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  api.easySetopt(curl, CURLOPT_NOSIGNAL, 1L);
  api.easySetopt(curl, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
  api.easySetopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  api.easySetopt(curl, CURLOPT_LOW_SPEED_TIME, kLowSpeedSeconds);
  api.easySetopt(curl, CURLOPT_USERAGENT, "berth/" BERTH_VERSION);
  api.easySetopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // identity/gzip transfer coding only
  api.easySetopt(curl, CURLOPT_HEADERFUNCTION, onHeader);
  api.easySetopt(curl, CURLOPT_HEADERDATA, &transfer);
  api.easySetopt(curl, CURLOPT_WRITEFUNCTION, onBody);
  api.easySetopt(curl, CURLOPT_WRITEDATA, &transfer);
  if (request.caBundle) {
    // The whole bundle (system store included): with a blob, libcurl reads no CA file.
    curl_blob blob{const_cast<char*>(request.caBundle->data()), request.caBundle->size(),
                   CURL_BLOB_COPY};
    if (CURLcode set = api.easySetopt(curl, CURLOPT_CAINFO_BLOB, &blob); set != CURLE_OK) {
      lastFailure_ = HttpFailure::kTransport;
      return Error(
          fmt::format("libcurl cannot take CA certificates from memory (CURLOPT_CAINFO_BLOB: {}), "
                      "which registry_ca_file and BERTH_REGISTRY_CA_FILE need",
                      api.easyStrerror(set)));
    }
  }
  if (request.cancelled) {
    api.easySetopt(curl, CURLOPT_XFERINFOFUNCTION, onProgress);
    api.easySetopt(curl, CURLOPT_XFERINFODATA, &transfer);
    api.easySetopt(curl, CURLOPT_NOPROGRESS, 0L);
  }
  if (request.method == "HEAD")
    api.easySetopt(curl, CURLOPT_NOBODY, 1L);
  if (hasBody) {
    api.easySetopt(curl, CURLOPT_UPLOAD, 1L);
    api.easySetopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    api.easySetopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(upload.length()));
    api.easySetopt(curl, CURLOPT_READFUNCTION, onUpload);
    api.easySetopt(curl, CURLOPT_READDATA, &upload);
    api.easySetopt(curl, CURLOPT_SEEKFUNCTION, onUploadSeek);
    api.easySetopt(curl, CURLOPT_SEEKDATA, &upload);
  }
  std::string range;
  if (request.rangeFrom > 0) {
    range = fmt::format("{}-", request.rangeFrom);
    api.easySetopt(curl, CURLOPT_RANGE, range.c_str());
  }

  CURLcode code = api.easyPerform(curl);
  api.easyGetinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  response.effectiveUrl = url;
  if (isRedirect(response.status)) {
    char* location = nullptr;
    api.easyGetinfo(curl, CURLINFO_REDIRECT_URL, &location);
    response.redirectUrl = location != nullptr ? location : "";
  }
  api.easySetopt(curl, CURLOPT_HTTPHEADER, nullptr);
  api.easySetopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  std::string detail = certificateDetail(handle_->errorBuffer);
  lastFailure_ = HttpFailure::kTransport;
  if (transfer.tooLarge)
    return Error(fmt::format("{}: response larger than {} bytes", url, transfer.maxBody));
  // A failed read of the body aborts the transfer (CURL_READFUNC_ABORT): not a cancellation.
  if (upload.readErrno != 0)
    return Error::fromErrno(upload.readErrno, fmt::format("{}: read the request body", url));
  if (code == CURLE_ABORTED_BY_CALLBACK && !transfer.aborted) {
    lastFailure_ = HttpFailure::kCancelled;
    return cancelledError(request.url);
  }
  if (transfer.aborted)
    return Error(fmt::format("{}: transfer aborted", url));
  if (code == CURLE_PEER_FAILED_VERIFICATION) {
    // libcurl says "SSL: no alternative certificate subject name matches target host name"
    // (or "... does not match target host name") when the chain is fine but the name is not.
    bool name = detail.find("host name") != std::string::npos ||
                detail.find("subject name") != std::string::npos;
    lastFailure_ = name ? HttpFailure::kTlsHostMismatch : HttpFailure::kTlsUntrusted;
    return Error(fmt::format("{}: TLS certificate {} ({})", urlHost(url),
                             name ? "is for another host name" : "not trusted",
                             detail.empty() ? api.easyStrerror(code) : detail));
  }
  lastFailure_ = HttpFailure::kNone;
  if (code == CURLE_PARTIAL_FILE && response.status != 0) {
    response.truncated = true;
    return response;
  }
  if (code != CURLE_OK) {
    lastFailure_ = HttpFailure::kTransport;
    return Error(fmt::format("{}: {}", url, api.easyStrerror(code)));
  }
  return response;
}

std::string urlEncode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

namespace {

struct UrlParts {
  std::string scheme;  // lowercased
  std::string host;    // as written (IPv6 with its brackets), userinfo removed
  std::string port;    // "" when absent
};

std::optional<UrlParts> splitUrl(std::string_view url) {
  size_t colon = url.find("://");
  if (colon == std::string_view::npos)
    return std::nullopt;
  UrlParts parts;
  parts.scheme = std::string(url.substr(0, colon));
  std::transform(parts.scheme.begin(), parts.scheme.end(), parts.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (parts.scheme != "http" && parts.scheme != "https")
    return std::nullopt;
  std::string_view authority = url.substr(colon + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (size_t at = authority.rfind('@'); at != std::string_view::npos)
    authority.remove_prefix(at + 1);
  size_t portColon = authority.rfind(':');
  if (portColon != std::string_view::npos &&
      authority.find(']', portColon) == std::string_view::npos) {
    parts.port = std::string(authority.substr(portColon + 1));
    authority = authority.substr(0, portColon);
  }
  parts.host = std::string(authority);
  if (parts.host.empty())
    return std::nullopt;
  return parts;
}

}  // namespace

std::string urlOrigin(std::string_view url) {
  auto parts = splitUrl(url);
  if (!parts)
    return {};
  std::string host = parts->host;
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string port = parts->port.empty() ? (parts->scheme == "https" ? "443" : "80") : parts->port;
  return fmt::format("{}://{}:{}", parts->scheme, host, port);
}

std::string urlHost(std::string_view url) {
  auto parts = splitUrl(url);
  if (!parts)
    return std::string(url);
  return parts->port.empty() ? parts->host : parts->host + ":" + parts->port;
}

}  // namespace berth::registry
