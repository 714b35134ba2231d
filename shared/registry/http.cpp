#include "shared/registry/http.hpp"

#include "shared/registry/curl_library.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::registry {

namespace {

constexpr size_t kDefaultMaxBody = 64 << 20;
// Give up on a connection that moves less than 1 byte/s for this long (a hung registry).
constexpr long kLowSpeedSeconds = 60;
constexpr long kConnectTimeoutSeconds = 30;

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

Result<HttpResponse> HttpSession::perform(const HttpRequest& request, const BodySink& sink) {
  const CurlLibrary& api = *handle_->library;
  CURL* curl = handle_->curl;
  if (isCancelled(request.cancelled))
    return cancelledError(request.url);
  api.easyReset(curl);
  HttpResponse response;
  Transfer transfer{&response, &sink, request.maxBodyBytes ? request.maxBodyBytes : kDefaultMaxBody,
                    &request.cancelled};
  CurlSlist headers{api};
  for (const std::string& h : request.headers)
    headers.append(h);
  UploadSource upload{&request};
  bool hasBody = request.method == "POST" || request.method == "PUT" || request.method == "PATCH";
  if (hasBody)
    headers.append("Expect:");  // no 100-continue round trip before every body

  api.easySetopt(curl, CURLOPT_URL, request.url.c_str());
  api.easySetopt(curl, CURLOPT_HTTPHEADER, headers.list);
  api.easySetopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  api.easySetopt(curl, CURLOPT_REDIR_PROTOCOLS_STR,
                 request.allowPlainHttpRedirects ? "http,https" : "https");
  api.easySetopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  api.easySetopt(curl, CURLOPT_MAXREDIRS, 10L);
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
  char* effective = nullptr;
  api.easyGetinfo(curl, CURLINFO_EFFECTIVE_URL, &effective);
  response.effectiveUrl = effective != nullptr ? effective : request.url;
  api.easySetopt(curl, CURLOPT_HTTPHEADER, nullptr);
  if (transfer.tooLarge)
    return Error(fmt::format("{}: response larger than {} bytes", request.url, transfer.maxBody));
  if (upload.readErrno != 0)
    return Error::fromErrno(upload.readErrno,
                            fmt::format("{}: read the request body", request.url));
  if (code == CURLE_ABORTED_BY_CALLBACK && !transfer.aborted)
    return cancelledError(request.url);
  if (transfer.aborted)
    return Error(fmt::format("{}: transfer aborted", request.url));
  if (code == CURLE_PARTIAL_FILE && response.status != 0) {
    response.truncated = true;
    return response;
  }
  if (code != CURLE_OK)
    return Error(fmt::format("{}: {}", request.url, api.easyStrerror(code)));
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

}  // namespace berth::registry
