// LayerReader's verifying mode: a layer blob read through a decompressor and a libarchive tar
// reader, so that every byte is hashed on the way without a second pass over the file.
//
//   file --fileRead--> decompressor --tarRead--> tar reader
//        (blob digest, size)       (diff_id)
//
// The decompressor of gzip blobs is GzipInflater (ISA-L, else zlib: inflate_gzip.hpp); of the
// others (zstd, xz, bzip2, plain) a second libarchive reader, raw format: decompression only.
//
// The hashing itself runs on a thread of its own (HashThread): the reading thread is the
// conversion's bottleneck, and SHA-256 of every byte twice would otherwise slow it by a third.
//
// The tar reader stops at the end-of-archive blocks; whatever follows (padding, trailing data)
// still belongs to the digests, so finishVerification() drains both streams before comparing.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "shared/convert/archive_library.hpp"
#include "shared/convert/inflate_gzip.hpp"
#include "shared/convert/layer_reader.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/image/digest.hpp"

namespace berth::convert {

namespace {

constexpr size_t kVerifyBuffer = 1 << 20;
// Buffers per stream: libarchive needs the last one it was given until it asks again, the
// hashing thread may still work on the one before.
constexpr size_t kBuffersPerStream = 3;

// Hashes chunks on a thread of its own, so that the layer's reader (the conversion's main
// thread, its bottleneck) only hands buffers over. A buffer is reused once hashed.
class HashThread {
 public:
  HashThread() : worker_([this] { loop(); }) {}
  HashThread(const HashThread&) = delete;
  HashThread& operator=(const HashThread&) = delete;
  ~HashThread() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    worker_.join();  // hashes what is queued first: the buffers outlive this object
  }

  // Queues `data` (unchanged until it is free again) for `hasher`.
  void submit(image::Sha256Hasher& hasher, const char* data, size_t size) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back({&hasher, data, size});
    }
    changed_.notify_all();
  }
  // Blocks until no queued or running chunk uses `data`.
  void waitUntilFree(const char* data) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] {
      return current_ != data && std::none_of(queue_.begin(), queue_.end(),
                                              [&](const Chunk& c) { return c.data == data; });
    });
  }
  // Blocks until everything submitted is hashed.
  void drain() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return queue_.empty() && current_ == nullptr; });
  }

 private:
  struct Chunk {
    image::Sha256Hasher* hasher;
    const char* data;
    size_t size;
  };

  void loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty())
        return;
      Chunk chunk = queue_.front();
      queue_.pop_front();
      current_ = chunk.data;
      lock.unlock();
      chunk.hasher->update(std::string_view(chunk.data, chunk.size));
      lock.lock();
      current_ = nullptr;
      changed_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Chunk> queue_;
  const char* current_ = nullptr;
  bool stopping_ = false;
  std::thread worker_;  // last: started when everything above exists
};

// Rotating buffers of one stream.
struct StreamBuffers {
  std::vector<std::vector<char>> buffers{kBuffersPerStream, std::vector<char>(kVerifyBuffer)};
  size_t next = 0;

  char* take(HashThread& hashing) {
    char* buffer = buffers[next].data();
    next = (next + 1) % buffers.size();
    hashing.waitUntilFree(buffer);
    return buffer;
  }
};

}  // namespace

struct LayerReader::Verifier {
  Verifier(const ArchiveLibrary* library, UniqueFd file, LayerDigests digests,
           image::Sha256Hasher blob, image::Sha256Hasher tar)
      : lib(library),
        fd(std::move(file)),
        expected(std::move(digests)),
        blobHash(std::move(blob)),
        tarHash(std::move(tar)),
        outer(nullptr, ArchiveDeleter{library}) {}

  const ArchiveLibrary* lib;
  UniqueFd fd;
  LayerDigests expected;
  image::Sha256Hasher blobHash;  // fed only when expected.blob is set
  image::Sha256Hasher tarHash;   // fed only when expected.diffId is set
  int64_t blobBytes = 0;
  std::unique_ptr<GzipInflater> gzip;  // gzip blobs
  ArchivePtr outer;                    // the other blobs: decompression only (raw format)
  bool outerDone = false;
  bool verified = false;
  StreamBuffers fileBuffers;
  StreamBuffers tarBuffers;
  std::optional<Error> failure;  // what a callback could not report through libarchive
  HashThread hashing;            // last: finishes with the buffers still there

  // The next bytes of the file into *buffer, queued for hashing; 0 at its end.
  la_ssize_t readFile(const void** buffer) {
    char* data = fileBuffers.take(hashing);
    *buffer = data;
    for (;;) {
      ssize_t n = ::read(fd.get(), data, kVerifyBuffer);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        failure = errnoError("read layer blob");
        return -1;
      }
      if (!expected.blob.empty() && n > 0)
        hashing.submit(blobHash, data, static_cast<size_t>(n));
      blobBytes += n;
      return n;
    }
  }

  // The next bytes of the decompressed stream into *buffer, queued for hashing; 0 at its end.
  la_ssize_t readTar(const void** buffer) {
    char* data = tarBuffers.take(hashing);
    *buffer = data;
    if (outerDone)
      return 0;
    la_ssize_t n = gzip ? inflateSome(data) : lib->readData(outer.get(), data, kVerifyBuffer);
    if (n < 0) {
      if (!failure)
        failure = archiveErrorOf(*lib, outer.get(), "decompress layer");
      return -1;
    }
    outerDone = n == 0;
    if (!expected.diffId.empty() && n > 0)
      hashing.submit(tarHash, data, static_cast<size_t>(n));
    return n;
  }

  // gzip: inflates into `data` (feeding the inflater from the file as it asks); 0 at the end.
  // The libarchive reader that decompresses a blob other than gzip.
  Status openOuter(const std::string& where) {
    outer.reset(lib->readNew());
    struct archive* a = outer.get();
    if (a == nullptr)
      return Error("libarchive: out of memory");
    if (lib->supportFormatRaw(a) != ARCHIVE_OK)
      return archiveErrorOf(*lib, a, "libarchive");
    BERTH_TRY(supportLayerFilters(*lib, a));
    if (lib->readOpen(a, this, nullptr, &Verifier::fileRead, nullptr) != ARCHIVE_OK)
      return failure ? *failure : archiveErrorOf(*lib, a, where);
    struct archive_entry* entry = nullptr;
    int rc = lib->readNextHeader(a, &entry);
    if (rc == ARCHIVE_EOF)
      outerDone = true;  // an empty blob: the tar reader reports it
    else if (rc < ARCHIVE_WARN)
      return failure ? *failure : archiveErrorOf(*lib, a, where);
    return okStatus();
  }

  la_ssize_t inflateSome(char* data) {
    for (;;) {
      auto n = gzip->inflate(data, kVerifyBuffer);
      if (!n.ok()) {
        failure = std::move(n).error().withContext("decompress layer");
        return -1;
      }
      if (*n > 0 || gzip->finished())
        return static_cast<la_ssize_t>(*n);
      const void* input = nullptr;
      la_ssize_t got = readFile(&input);
      if (got < 0)
        return -1;
      gzip->feed(input, static_cast<size_t>(got));
    }
  }

  static la_ssize_t fileRead(struct archive*, void* self, const void** buffer) {
    return static_cast<Verifier*>(self)->readFile(buffer);
  }
  static la_ssize_t tarRead(struct archive*, void* self, const void** buffer) {
    return static_cast<Verifier*>(self)->readTar(buffer);
  }
};

// Here, where Verifier is complete.
LayerReader::LayerReader(const ArchiveLibrary* library, ArchivePtr archive, std::string name,
                         bool disk)
    : lib_(library), archive_(std::move(archive)), name_(std::move(name)), disk_(disk) {}
LayerReader::LayerReader(LayerReader&&) noexcept = default;
LayerReader& LayerReader::operator=(LayerReader&&) noexcept = default;
LayerReader::~LayerReader() = default;

Result<LayerReader> LayerReader::openVerified(const ArchiveLibrary* lib,
                                              const std::filesystem::path& blob,
                                              const LayerDigests& expected, GzipBackend gzip) {
  UniqueFd fd(::open(blob.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd)
    return errnoError(fmt::format("open layer `{}`", blob.string()));
  unsigned char magic[2] = {};
  ssize_t peeked = ::pread(fd.get(), magic, sizeof magic, 0);
  if (peeked < 0)
    return errnoError(fmt::format("read layer `{}`", blob.string()));
  BERTH_ASSIGN(image::Sha256Hasher blobHash, image::Sha256Hasher::create());
  BERTH_ASSIGN(image::Sha256Hasher tarHash, image::Sha256Hasher::create());
  auto verifier = std::make_unique<Verifier>(lib, std::move(fd), expected, std::move(blobHash),
                                             std::move(tarHash));
  std::string where = fmt::format("open layer `{}`", blob.string());

  if (isGzip(magic, static_cast<size_t>(peeked))) {
    BERTH_ASSIGN(verifier->gzip, GzipInflater::create(gzip).withContext(where));
  } else {
    BERTH_TRY(verifier->openOuter(where));
  }

  ArchivePtr tar(lib->readNew(), ArchiveDeleter{lib});

  if (!tar)
    return Error("libarchive: out of memory");
  if (lib->supportFormatTar(tar.get()) != ARCHIVE_OK)
    return archiveErrorOf(*lib, tar.get(), "libarchive");
  if (lib->readOpen(tar.get(), verifier.get(), nullptr, &Verifier::tarRead, nullptr) != ARCHIVE_OK)
    return verifier->failure ? *verifier->failure : archiveErrorOf(*lib, tar.get(), where);
  LayerReader reader(lib, std::move(tar), blob.string(), false);
  reader.verifier_ = std::move(verifier);
  return reader;
}

Error LayerReader::streamError(std::string_view what) const {
  // What the verifier's callbacks met (a read error, corrupt gzip data) is the cause; the tar
  // reader only saw its callback fail.
  if (verifier_ && verifier_->failure)
    return verifier_->failure->withContext(what);
  return archiveError(what);
}

Status LayerReader::finishVerification() {
  Verifier& v = *verifier_;
  if (v.verified)
    return okStatus();
  std::string where = fmt::format("layer `{}`", name_);
  const void* ignored = nullptr;
  while (!v.outerDone) {
    if (v.readTar(&ignored) < 0)
      return v.failure->withContext(where);
  }
  for (;;) {
    la_ssize_t n = v.readFile(&ignored);
    if (n < 0)
      return v.failure->withContext(where);
    if (n == 0)
      break;
  }
  v.hashing.drain();
  if (v.expected.blobSize >= 0 && v.blobBytes != v.expected.blobSize)
    return Error(fmt::format("{}: blob has {} bytes, its descriptor says {}", where, v.blobBytes,
                             v.expected.blobSize));
  if (!v.expected.blob.empty())
    BERTH_TRY(image::checkDigest(v.expected.blob, v.blobHash.finish())
                  .withContext(fmt::format("{}: blob", where)));
  if (!v.expected.diffId.empty())
    BERTH_TRY(
        image::checkDigest(v.expected.diffId, v.tarHash.finish())
            .withContext(fmt::format("{}: uncompressed content (diff_id in the config)", where)));
  v.verified = true;  // a second next() at the end is the plain end
  return okStatus();
}

}  // namespace berth::convert
