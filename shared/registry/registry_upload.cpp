// RegistryClient's push half: blobs (present, mounted, or uploaded in resumable chunks) and
// manifests. The protocol is summed up in registry_upload.hpp.
#include "shared/registry/registry_upload.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "shared/core/strings.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/image/digest.hpp"
#include "shared/registry/registry_client_impl.hpp"

namespace berth::registry {

namespace {

constexpr std::string_view kOctetStream = "Content-Type: application/octet-stream";
// A manifest is small; the registry's answer to a PUT even more so.
constexpr size_t kMaxAnswerBytes = 1 << 20;

// "0-1023" or "bytes=0-1023" (a Range header of an upload): the bytes the registry holds, or
// nothing when the header is missing or malformed.
std::optional<int64_t> rangeHeld(std::string_view range) {
  size_t dash = range.rfind('-');
  if (dash == std::string_view::npos)
    return std::nullopt;
  std::string_view last = trim(range.substr(dash + 1));
  int64_t end = 0;
  auto [ptr, ec] = std::from_chars(last.data(), last.data() + last.size(), end);
  if (ec != std::errc() || ptr != last.data() + last.size() || end < 0)
    return std::nullopt;
  return end + 1;
}

// `location` with `name=value` added to its query.
std::string withQuery(std::string_view location, std::string_view name, std::string_view value) {
  char sep = location.find('?') == std::string_view::npos ? '?' : '&';
  return fmt::format("{}{}{}={}", location, sep, name, urlEncode(value));
}

// One blob's way into the target repository.
class BlobPush {
 public:
  BlobPush(RegistryTransport& transport, std::mutex& progressMutex, HttpSession& session,
           RegistryEndpoint endpoint, const image::ImageReference& target, const BlobUpload& upload,
           const UploadOptions& options, const ProgressFn& progress)
      : transport_(transport),
        progressMutex_(progressMutex),
        session_(session),
        endpoint_(std::move(endpoint)),
        target_(target),
        upload_(upload),
        blob_(upload.blob),
        chunkBytes_(std::max<int64_t>(options.chunkBytes, 1)),
        progress_(progress) {}

  Result<BlobPushed> run() {
    BERTH_ASSIGN(bool present, exists());
    if (present) {
      report(blob_.size);
      return BlobPushed::kPresent;
    }
    std::string location;
    if (!upload_.mountFrom.empty() && upload_.mountFrom != target_.repository) {
      BERTH_ASSIGN(bool mounted, mount(location));
      if (mounted) {
        report(blob_.size);
        return BlobPushed::kMounted;
      }
    }
    BERTH_TRY(openSource());
    BERTH_TRY(send(std::move(location)));
    return BlobPushed::kUploaded;
  }

 private:
  // A request to a path of the registry, or to an upload location it handed out. A location
  // on another host (registries that send uploads to their storage) gets no credentials.
  Result<HttpResponse> perform(HttpRequest request) {
    std::string_view url = request.url;
    if (size_t scheme = url.find("://"); scheme != std::string_view::npos) {
      std::string_view rest = url.substr(scheme + 3);
      size_t slash = rest.find('/');
      std::string_view host = rest.substr(0, slash);
      if (host != endpoint_.host) {
        request.cancelled = transport_.cancelled();
        request.allowPlainHttpRedirects = endpoint_.plainHttp;
        return session_.perform(request);
      }
      request.url = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    }
    return transport_.send(session_, endpoint_, target_, std::move(request));
  }

  std::string blobPath() const {
    return fmt::format("/v2/{}/blobs/{}", target_.repository, blob_.digest);
  }
  std::string uploadsPath() const {
    return fmt::format("/v2/{}/blobs/uploads/", target_.repository);
  }

  void report(int64_t done) {
    if (!progress_)
      return;
    std::lock_guard lock(progressMutex_);
    progress_(blob_, done, blob_.size);
  }

  Result<bool> exists() {
    HttpRequest request;
    request.method = "HEAD";
    request.url = blobPath();
    BERTH_ASSIGN(HttpResponse response, perform(std::move(request)));
    if (response.status == 200)
      return true;
    if (response.status == 404)
      return false;
    return registryStatusError(response, "blob");
  }

  // Asks the registry to mount the blob from upload_.mountFrom. A registry that cannot
  // (another repository lacks it, no access there) starts an upload instead: its `location`.
  Result<bool> mount(std::string& location) {
    HttpRequest request;
    request.method = "POST";
    request.url =
        withQuery(withQuery(uploadsPath(), "mount", blob_.digest), "from", upload_.mountFrom);
    request.maxBodyBytes = kMaxAnswerBytes;
    BERTH_ASSIGN(HttpResponse response, perform(std::move(request)));
    if (response.status == 201) {
      BERTH_TRY(checkDigestHeader(response));
      transport_.log().debug("{}: mounted from {}", blob_.digest, upload_.mountFrom);
      return true;
    }
    if (response.status == 202) {
      location = response.header("location");
      transport_.log().verbose("{}: not mounted from {}: uploading it", blob_.digest,
                               upload_.mountFrom);
      return false;
    }
    transport_.log().verbose("{}: mount from {} refused ({}): uploading it", blob_.digest,
                             upload_.mountFrom, registryStatusError(response, "blob").message());
    return false;
  }

  Status checkDigestHeader(const HttpResponse& response) const {
    std::string digest = response.header("docker-content-digest");
    if (!digest.empty() && digest != blob_.digest)
      return Error(fmt::format("the registry stored {} instead", digest));
    return okStatus();
  }

  Status openSource() {
    std::filesystem::path file = upload_.file;
    if (file.empty() && upload_.fetch) {
      BERTH_ASSIGN(file, upload_.fetch());
    }
    if (file.empty()) {
      if (static_cast<int64_t>(upload_.data.size()) != blob_.size)
        return Error(fmt::format("{} bytes in memory, the descriptor says {}", upload_.data.size(),
                                 blob_.size));
      return okStatus();
    }
    fd_ = UniqueFd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_)
      return errnoError(fmt::format("open `{}`", file.string()));
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0)
      return errnoError(fmt::format("stat `{}`", file.string()));
    if (st.st_size != blob_.size)
      return Error(fmt::format("`{}` holds {} bytes, the descriptor says {}", file.string(),
                               st.st_size, blob_.size));
    file_ = file;
    return okStatus();
  }

  // POST: a new upload session; its location.
  Result<std::string> start() {
    HttpRequest request;
    request.method = "POST";
    request.url = uploadsPath();
    request.maxBodyBytes = kMaxAnswerBytes;
    BERTH_ASSIGN(HttpResponse response, perform(std::move(request)));
    if (response.status != 202)
      return registryStatusError(response, "upload");
    std::string location = response.header("location");
    if (location.empty())
      return Error("the registry started an upload without a Location");
    // OCI distribution-spec: the smallest chunk the registry takes (all but the last).
    std::string minimum = response.header("oci-chunk-min-length");
    int64_t min = 0;
    if (!minimum.empty() &&
        std::from_chars(minimum.data(), minimum.data() + minimum.size(), min).ec == std::errc() &&
        min > chunkBytes_)
      chunkBytes_ = min;
    return location;
  }

  // One PATCH of [offset, offset + length).
  Result<HttpResponse> patch(const std::string& location, int64_t offset, int64_t length) {
    HttpRequest request;
    request.method = "PATCH";
    request.url = location;
    request.retry = false;  // after a failure, the registry is asked how far it got
    request.maxBodyBytes = kMaxAnswerBytes;
    request.headers = {std::string(kOctetStream),
                       fmt::format("Content-Range: {}-{}", offset, offset + length - 1)};
    if (fd_) {
      request.fileBody = FileBody{fd_.get(), offset, length};
    } else {
      request.body = upload_.data.substr(static_cast<size_t>(offset), static_cast<size_t>(length));
    }
    request.sent = [this, offset](int64_t sent) { report(offset + sent); };
    return perform(std::move(request));
  }

  struct UploadState {
    std::string location;
    int64_t held = 0;
    bool ambiguous = false;  // "0-0": distribution says so for 0 bytes and for 1
  };

  // GET on the upload: how much the registry holds, or nothing when the upload is gone.
  Result<std::optional<UploadState>> status(const std::string& location) {
    HttpRequest request;
    request.url = location;
    request.maxBodyBytes = kMaxAnswerBytes;
    BERTH_ASSIGN(HttpResponse response, perform(std::move(request)));
    if (response.status == 404 || response.status == 400)
      return std::optional<UploadState>();
    if (response.status != 204 && response.status != 202 && response.status != 200)
      return registryStatusError(response, "upload");
    std::string range = response.header("range");
    auto held = rangeHeld(range);
    UploadState state{response.header("location"), held.value_or(0), trim(range) == "0-0"};
    if (state.location.empty())
      state.location = location;
    return std::optional<UploadState>(std::move(state));
  }

  // PUT ?digest=: the registry checks the bytes against the digest and keeps the blob.
  Result<HttpResponse> finish(const std::string& location) {
    HttpRequest request;
    request.method = "PUT";
    request.url = withQuery(location, "digest", blob_.digest);
    request.maxBodyBytes = kMaxAnswerBytes;
    request.headers = {std::string(kOctetStream)};
    return perform(std::move(request));
  }

  Status send(std::string location) {
    int failures = 0;
    int64_t offset = 0;
    bool ambiguous = false;  // offset 0 came from "0-0": it may be 1
    auto failed = [&](std::string why) -> Status {
      if (++failures > transport_.retries())
        return Error(std::move(why));
      transport_.log().verbose("{}: {}; asking the registry how far the upload got", blob_.digest,
                               why);
      transport_.backoff(failures - 1, nullptr);
      return okStatus();
    };
    while (true) {
      if (isCancelled(transport_.cancelled()))
        return cancelledError(fmt::format("upload {}", blob_.digest));
      if (location.empty()) {
        BERTH_ASSIGN(location, start());
        offset = 0;
      }
      bool broken = false;
      while (offset < blob_.size && !broken) {
        int64_t length = std::min(chunkBytes_, blob_.size - offset);
        auto response = patch(location, offset, length);
        if (response.ok() && response->status == 202 && !response->truncated) {
          if (std::string next = response->header("location"); !next.empty())
            location = std::move(next);
          int64_t expected = offset + length;
          offset = rangeHeld(response->header("range")).value_or(expected);
          if (offset != expected)
            transport_.log().verbose("{}: the registry holds {} bytes after a chunk up to {}",
                                     blob_.digest, offset, expected);
          ambiguous = false;
          continue;
        }
        if (isCancelled(transport_.cancelled()) ||
            (!response.ok() && isCancellation(response.error())))
          return cancelledError(fmt::format("upload {}", blob_.digest));
        if (response.ok() && response->status != 416 && response->status < 500 &&
            response->status != 404 && response->status != 400 && !response->truncated)
          return registryStatusError(*response, "upload");  // 401/403: no use trying again
        if (response.ok() && response->status == 416 && ambiguous && offset == 0) {
          offset = 1;  // "0-0" meant one byte
          ambiguous = false;
          continue;
        }
        BERTH_TRY(
            failed(response.ok()
                       ? fmt::format("chunk at byte {}: {}", offset,
                                     registryStatusError(*response, "upload").message())
                       : fmt::format("chunk at byte {}: {}", offset, response.error().message())));
        BERTH_ASSIGN(auto state, status(location));
        if (!state) {
          transport_.log().verbose("{}: the registry dropped the upload; starting again",
                                   blob_.digest);
          location.clear();
          broken = true;
          break;
        }
        location = std::move(state->location);
        offset = std::min(state->held, blob_.size);
        ambiguous = state->ambiguous;
        transport_.log().verbose("{}: resuming at byte {} of {}", blob_.digest, offset, blob_.size);
      }
      if (broken)
        continue;
      auto response = finish(location);
      if (response.ok() && (response->status == 201 || response->status == 204)) {
        BERTH_TRY(checkDigestHeader(*response));
        return okStatus();
      }
      if (response.ok() && response->status == 400 &&
          registryErrorMessage(response->body).find("digest") != std::string::npos)
        return Error(fmt::format("the registry found other bytes than {} in {} ({})", blob_.digest,
                                 file_.empty() ? "the blob" : "`" + file_.string() + "`",
                                 registryStatusError(*response, "blob").message()));
      // The answer may have been lost after the registry kept the blob.
      if (auto there = exists(); there.ok() && *there)
        return okStatus();
      if (response.ok() && response->status < 500 && response->status != 404)
        return registryStatusError(*response, "upload");
      BERTH_TRY(failed(response.ok() ? registryStatusError(*response, "upload").message()
                                     : response.error().message()));
      BERTH_ASSIGN(auto state, status(location));
      if (!state) {
        location.clear();
      } else {
        location = std::move(state->location);
        offset = std::min(state->held, blob_.size);
      }
    }
  }

  RegistryTransport& transport_;
  std::mutex& progressMutex_;
  HttpSession& session_;
  RegistryEndpoint endpoint_;
  const image::ImageReference& target_;
  const BlobUpload& upload_;
  const image::Descriptor& blob_;
  int64_t chunkBytes_;
  const ProgressFn& progress_;
  UniqueFd fd_;
  std::filesystem::path file_;
};

}  // namespace

std::string_view blobPushedName(BlobPushed how) {
  switch (how) {
    case BlobPushed::kPresent:
      return "present";
    case BlobPushed::kMounted:
      return "mounted";
    case BlobPushed::kUploaded:
      return "uploaded";
  }
  return "?";
}

void RegistryClient::preparePush(const image::ImageReference& target,
                                 const std::vector<std::string>& mountSources) {
  std::vector<std::string> scopes{fmt::format("repository:{}:pull,push", target.repository)};
  for (const std::string& source : mountSources) {
    std::string scope = fmt::format("repository:{}:pull", source);
    if (source != target.repository &&
        std::find(scopes.begin(), scopes.end(), scope) == scopes.end())
      scopes.push_back(std::move(scope));
  }
  impl_->transport.setScopes(target.repository, std::move(scopes));
}

Result<BlobPushed> RegistryClient::pushBlob(const image::ImageReference& target,
                                            const BlobUpload& upload, const UploadOptions& options,
                                            const ProgressFn& progress) {
  auto run = [&]() -> Result<BlobPushed> {
    BERTH_TRY(image::validateDigest(upload.blob.digest));
    if (upload.blob.size < 0)
      return Error("negative blob size");
    BERTH_ASSIGN(Impl::Lease l, impl_->lease());
    // Never to a mirror: the registry itself is the last endpoint.
    BlobPush push(impl_->transport, impl_->progressMutex, *l.session,
                  impl_->transport.endpoints(target).back(), target, upload, options, progress);
    return push.run();
  };
  return run().withContext(fmt::format("push blob {} to `{}`", upload.blob.digest, target.name()));
}

Result<std::vector<BlobPushed>> RegistryClient::pushBlobs(const image::ImageReference& target,
                                                          const std::vector<BlobUpload>& uploads,
                                                          const UploadOptions& options,
                                                          const ProgressFn& progress) {
  std::vector<std::optional<BlobPushed>> results(uploads.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex errorMutex;
  std::optional<Error> firstError;
  auto worker = [&] {
    for (size_t i = next++; i < uploads.size() && !failed; i = next++) {
      // The same blob twice (a layer repeated): the first push serves both.
      bool repeated = false;
      for (size_t j = 0; j < i; ++j)
        repeated = repeated || uploads[j].blob.digest == uploads[i].blob.digest;
      if (repeated)
        continue;
      auto pushed = pushBlob(target, uploads[i], options, progress);
      if (pushed.ok()) {
        results[i] = *pushed;
        continue;
      }
      std::lock_guard lock(errorMutex);
      if (!firstError)
        firstError = std::move(pushed).error();
      failed = true;
    }
  };
  size_t threads =
      std::min<size_t>(static_cast<size_t>(std::max(options.parallel, 1)), uploads.size());
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t)
    pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool)
    t.join();
  if (firstError)
    return *firstError;
  std::vector<BlobPushed> out;
  for (size_t i = 0; i < uploads.size(); ++i)
    out.push_back(results[i].value_or(BlobPushed::kPresent));
  return out;
}

Result<std::string> RegistryClient::pushManifest(const image::ImageReference& target,
                                                 std::string_view manifest,
                                                 std::string_view mediaType) {
  auto run = [&]() -> Result<std::string> {
    BERTH_ASSIGN(std::string digest, image::sha256Digest(manifest));
    if (!target.digest.empty())
      BERTH_TRY(image::checkDigest(target.digest, digest));
    BERTH_ASSIGN(Impl::Lease l, impl_->lease());
    RegistryEndpoint endpoint = impl_->transport.endpoints(target).back();
    HttpRequest request;
    request.method = "PUT";
    request.url = fmt::format("/v2/{}/manifests/{}", target.repository,
                              target.tag.empty() ? digest : target.tag);
    request.headers = {fmt::format("Content-Type: {}", mediaType)};
    request.body = std::string(manifest);
    request.maxBodyBytes = kMaxAnswerBytes;
    BERTH_ASSIGN(HttpResponse response,
                 impl_->transport.send(*l.session, endpoint, target, std::move(request)));
    if (response.status != 201 && response.status != 200 && response.status != 202)
      return registryStatusError(response, "manifest");
    std::string stored = response.header("docker-content-digest");
    if (!stored.empty() && stored != digest)
      return Error(fmt::format("the registry stored the manifest as {}, not {}", stored, digest));
    return digest;
  };
  return run().withContext(fmt::format("push manifest to `{}`", target.toString()));
}

}  // namespace berth::registry
