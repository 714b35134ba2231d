// RegistryClient's blob downloads: streamed to a ".partial" file, hashed on the way, resumed
// with Range after a broken connection, renamed into place only once the digest matches.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include <fmt/format.h>

#include "shared/core/unique_fd.hpp"
#include "shared/image/digest.hpp"
#include "shared/registry/registry_client_impl.hpp"

namespace berth::registry {

namespace {

namespace fs = std::filesystem;

// Progress callbacks at most every this many bytes per blob (and at the end).
constexpr int64_t kProgressStep = 256 << 10;

// Writes at an explicit offset: the file position never matters, even after a restart.
Status writeAllAt(int fd, std::string_view data, int64_t offset) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errnoError("write");
    data.remove_prefix(static_cast<size_t>(n));
    offset += n;
  }
  return {};
}

// Feeds the first `length` bytes of `fd` to `hasher` (the part of a resumed download on disk).
Status hashPrefix(int fd, int64_t length, image::Sha256Hasher& hasher) {
  std::string buffer(1 << 16, '\0');
  int64_t offset = 0;
  while (offset < length) {
    size_t want = static_cast<size_t>(std::min<int64_t>(length - offset, buffer.size()));
    ssize_t n = ::pread(fd, buffer.data(), want, offset);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return n < 0 ? errnoError("read partial blob") : Error("partial blob shrank");
    hasher.update(std::string_view(buffer.data(), static_cast<size_t>(n)));
    offset += n;
  }
  return {};
}

// True when `path` holds exactly `blob` (size, then digest).
bool verifiedFile(const fs::path& path, const image::Descriptor& blob) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec || static_cast<int64_t>(size) != blob.size)
    return false;
  auto digest = image::sha256File(path.string());
  return digest.ok() && *digest == blob.digest;
}

}  // namespace

Status RegistryClient::Impl::downloadFrom(const BlobSender& send, const image::Descriptor& blob,
                                          const fs::path& partial, const ProgressFn& progress) {
  for (int attempt = 0;; ++attempt) {
    bool lastAttempt = attempt >= options.retries;
    UniqueFd fd(::open(partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd)
      return errnoError(fmt::format("open `{}`", partial.string()));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
      return errnoError(fmt::format("stat `{}`", partial.string()));
    int64_t written = st.st_size;
    BERTH_ASSIGN(image::Sha256Hasher hasher, image::Sha256Hasher::create());
    if (written > blob.size || (written > 0 && !hashPrefix(fd.get(), written, hasher).ok())) {
      written = 0;
      hasher.reset();
    }
    if (written == 0 && ::ftruncate(fd.get(), 0) != 0)
      return errnoError(fmt::format("truncate `{}`", partial.string()));
    if (written > 0)
      log().verbose("resuming {} at byte {} of {}", blob.digest, written, blob.size);

    int64_t reported = written;
    bool tooLong = false;
    std::optional<Error> writeError;
    bool first = true;
    BodySink sink = [&](long status, std::string_view chunk) {
      if (first && status == 200 && written > 0) {
        // The server ignored Range: start over with the whole blob.
        log().verbose("registry ignored Range for {}: restarting", blob.digest);
        if (::ftruncate(fd.get(), 0) != 0) {
          writeError = errnoError("truncate");
          return false;
        }
        written = 0;
        hasher.reset();
      }
      first = false;
      if (written + static_cast<int64_t>(chunk.size()) > blob.size) {
        tooLong = true;
        return false;
      }
      if (Status ok = writeAllAt(fd.get(), chunk, written); !ok.ok()) {
        writeError = std::move(ok).error();
        return false;
      }
      hasher.update(chunk);
      written += static_cast<int64_t>(chunk.size());
      if (progress && (written - reported >= kProgressStep || written == blob.size)) {
        reported = written;
        std::lock_guard lock(progressMutex);
        progress(blob, written, blob.size);
      }
      return true;
    };
    HttpRequest request;
    request.cancelled = transport.cancelled();  // foreign URLs are not sent by the transport
    request.rangeFrom = written < blob.size ? written : 0;
    if (written == blob.size && written > 0) {
      // Complete on disk already (an earlier run stopped before the rename).
      if (hasher.finish() == blob.digest)
        return ::fsync(fd.get()) == 0 ? okStatus() : errnoError("fsync");
      written = 0;
      hasher.reset();
      request.rangeFrom = 0;
      if (::ftruncate(fd.get(), 0) != 0)
        return errnoError(fmt::format("truncate `{}`", partial.string()));
    }
    auto response = send(request, sink);
    if (isCancelled(transport.cancelled()) ||
        (!response.ok() && isCancellation(response.error()))) {
      // Abandoned: nobody resumes it (a later pull starts over), so nothing stays behind.
      ::unlink(partial.c_str());
      return cancelledError(fmt::format("download {}", blob.digest));
    }
    if (writeError)
      return writeError->withContext(fmt::format("write `{}`", partial.string()));
    if (tooLong) {
      ::unlink(partial.c_str());
      return Error(fmt::format("blob larger than the {} bytes its descriptor says", blob.size));
    }
    if (response.ok() && response->status == 416 && request.rangeFrom > 0) {
      // Range not satisfiable: the partial file is stale; start over.
      if (::ftruncate(fd.get(), 0) != 0)
        return errnoError(fmt::format("truncate `{}`", partial.string()));
      continue;
    }
    if (response.ok() && response->status != 200 && response->status != 206)
      return registryStatusError(*response, "blob");
    if (!response.ok() || written < blob.size) {
      std::string why = !response.ok()
                            ? response.error().message()
                            : fmt::format("truncated blob: got {} of {} bytes", written, blob.size);
      if (lastAttempt)
        return response.ok() || written == 0
                   ? Error(why)
                   : Error(fmt::format("truncated blob: got {} of {} bytes ({})", written,
                                       blob.size, why));
      log().verbose("{}: {}; resuming", blob.digest, why);
      transport.backoff(attempt, nullptr);
      continue;
    }
    std::string actual = hasher.finish();
    if (actual != blob.digest) {
      ::unlink(partial.c_str());
      return image::checkDigest(blob.digest, actual);
    }
    if (::fsync(fd.get()) != 0)
      return errnoError(fmt::format("fsync `{}`", partial.string()));
    return {};
  }
}

Status RegistryClient::Impl::download(const image::ImageReference& ref,
                                      const image::Descriptor& blob, const fs::path& dest,
                                      const ProgressFn& progress) {
  BERTH_TRY(image::validateDigest(blob.digest));
  if (blob.size < 0)
    return Error("negative blob size");
  fs::path partial = dest;
  partial += ".partial";
  BERTH_ASSIGN(Lease l, lease());
  HttpSession& session = *l.session;

  std::vector<std::pair<std::string, BlobSender>> sources;
  const image::MediaTypeInfo* info = image::findMediaType(blob.mediaType);
  if (info != nullptr && info->foreign) {
    for (const std::string& url : blob.urls) {
      if (!url.starts_with("https://")) {
        log().warning("skipping foreign layer URL `{}`: only https is allowed", url);
        continue;
      }
      sources.emplace_back(url, [&session, url](HttpRequest request, const BodySink& sink) {
        request.url = url;
        return session.perform(request, sink);
      });
    }
  }
  for (const RegistryEndpoint& endpoint : transport.endpoints(ref)) {
    sources.emplace_back(endpoint.host, [&, endpoint](HttpRequest request, const BodySink& sink) {
      request.url = fmt::format("/v2/{}/blobs/{}", ref.repository, blob.digest);
      return transport.send(session, endpoint, ref, request, sink);
    });
  }
  for (size_t i = 0; i < sources.size(); ++i) {
    Status fetched = downloadFrom(sources[i].second, blob, partial, progress);
    if (fetched.ok()) {
      if (::rename(partial.c_str(), dest.c_str()) != 0)
        return errnoError(fmt::format("rename `{}`", partial.string()));
      return {};
    }
    if (i + 1 == sources.size() || isCancellation(fetched.error()) ||
        fetched.error().message().starts_with("digest mismatch"))
      return fetched;
    log().verbose("{} from {}: {}; trying the next source", blob.digest, sources[i].first,
                  fetched.error().message());
  }
  return Error("no source for the blob");
}

Status RegistryClient::fetchBlob(const image::ImageReference& ref, const image::Descriptor& blob,
                                 const fs::path& dest, const ProgressFn& progress) {
  return impl_->download(ref, blob, dest, progress)
      .withContext(fmt::format("fetch blob {} of `{}`", blob.digest, ref.toString()));
}

Status RegistryClient::fetchBlobs(const image::ImageReference& ref,
                                  const std::vector<image::Descriptor>& blobs, const fs::path& dir,
                                  const ProgressFn& progress) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return Error(fmt::format("create `{}`: {}", dir.string(), ec.message()));
  std::vector<const image::Descriptor*> work;
  for (const image::Descriptor& blob : blobs) {
    BERTH_TRY(
        image::validateDigest(blob.digest).withContext(fmt::format("fetch `{}`", ref.toString())));
    bool seen = false;
    for (const image::Descriptor* other : work)
      seen = seen || other->digest == blob.digest;
    if (!seen)
      work.push_back(&blob);
  }

  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex errorMutex;
  std::optional<Error> firstError;
  auto worker = [&] {
    for (size_t i = next++; i < work.size() && !failed; i = next++) {
      const image::Descriptor& blob = *work[i];
      fs::path dest = dir / blobFileName(blob.digest);
      if (fs::exists(dest, ec)) {
        if (verifiedFile(dest, blob)) {
          impl_->log().debug("{} already present", blob.digest);
          if (progress) {
            std::lock_guard lock(impl_->progressMutex);
            progress(blob, blob.size, blob.size);
          }
          continue;
        }
        fs::remove(dest, ec);
      }
      Status fetched = fetchBlob(ref, blob, dest, progress);
      if (!fetched.ok()) {
        std::lock_guard lock(errorMutex);
        if (!firstError)
          firstError = std::move(fetched).error();
        failed = true;
      }
    }
  };
  size_t threads =
      std::min<size_t>(static_cast<size_t>(impl_->options.parallelDownloads), work.size());
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t)
    pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool)
    t.join();
  if (firstError)
    return *firstError;
  return {};
}

}  // namespace berth::registry
