#include "shared/convert/flatten_compress.hpp"

#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "shared/image/digest.hpp"

namespace berth::convert {
namespace {

constexpr int kDefaultGzipLevel = 6;  // gzip's and Go's default: what docker and skopeo send
constexpr int kDefaultZstdLevel = 3;
constexpr size_t kGzipBlock = 1 << 20;
constexpr size_t kDeflateWindow = 32 << 10;
// RFC 1952 header: magic, deflate, no flags, no mtime, no extra flags, OS "unknown" (as Go's
// gzip writes it: the bytes do not depend on the machine).
constexpr unsigned char kGzipHeader[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};

unsigned threadsFor(unsigned wanted) {
  if (wanted > 0)
    return wanted;
  return std::max(1u, std::thread::hardware_concurrency());
}

// The blob file and its digest; the tar stream's diff_id.
class Sink {
 public:
  static Result<Sink> create(int fd) {
    BERTH_ASSIGN(image::Sha256Hasher blob, image::Sha256Hasher::create());
    BERTH_ASSIGN(image::Sha256Hasher tar, image::Sha256Hasher::create());
    return Sink(fd, std::move(blob), std::move(tar));
  }

  void input(std::string_view data) {
    tar_.update(data);
    tarBytes_ += static_cast<int64_t>(data.size());
  }

  Status output(std::string_view data) {
    blob_.update(data);
    size_ += static_cast<int64_t>(data.size());
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return errnoError("write the layer blob");
      data.remove_prefix(static_cast<size_t>(n));
    }
    return okStatus();
  }

  CompressedLayer result() {
    return CompressedLayer{blob_.finish(), tar_.finish(), size_, tarBytes_};
  }

 private:
  Sink(int fd, image::Sha256Hasher blob, image::Sha256Hasher tar)
      : fd_(fd), blob_(std::move(blob)), tar_(std::move(tar)) {}

  int fd_;
  image::Sha256Hasher blob_;
  image::Sha256Hasher tar_;
  int64_t size_ = 0;
  int64_t tarBytes_ = 0;
};

// One block of the gzip stream: deflated by a worker, written out in order by the caller.
struct GzipJob {
  std::string input;
  std::string dictionary;  // the 32 KiB of input before this block
  bool last = false;
  std::string output;
  uLong crc = 0;
  std::optional<Error> error;
  bool done = false;
};

class ParallelGzip final : public LayerCompressor {
 public:
  ParallelGzip(Sink sink, int level, unsigned threads)
      : sink_(std::move(sink)), level_(level), maxInFlight_(2 * threads + 2) {
    pending_.reserve(kGzipBlock);
    for (unsigned i = 0; i < threads; ++i)
      workers_.emplace_back([this] { work(); });
  }

  ~ParallelGzip() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    queued_.notify_all();
    for (std::thread& t : workers_)
      t.join();
  }

  Status start() {
    return sink_.output(
        std::string_view(reinterpret_cast<const char*>(kGzipHeader), sizeof kGzipHeader));
  }

  Status write(std::string_view data) override {
    sink_.input(data);
    while (!data.empty()) {
      size_t take = std::min(kGzipBlock - pending_.size(), data.size());
      pending_.append(data.substr(0, take));
      data.remove_prefix(take);
      if (pending_.size() == kGzipBlock)
        BERTH_TRY(submit(false));
    }
    return okStatus();
  }

  Result<CompressedLayer> finish() override {
    BERTH_TRY(submit(true));
    while (!inFlight_.empty())
      BERTH_TRY(emitFront());
    unsigned char trailer[8];
    for (int i = 0; i < 4; ++i) {
      trailer[i] = static_cast<unsigned char>(crc_ >> (8 * i));
      trailer[4 + i] = static_cast<unsigned char>(static_cast<uint64_t>(length_) >> (8 * i));
    }
    BERTH_TRY(sink_.output(std::string_view(reinterpret_cast<const char*>(trailer), 8)));
    return sink_.result();
  }

 private:
  Status submit(bool last) {
    auto job = std::make_shared<GzipJob>();
    job->dictionary = std::move(dictionary_);
    job->last = last;
    size_t keep = std::min(kDeflateWindow, pending_.size());
    dictionary_.assign(pending_, pending_.size() - keep, keep);
    job->input = std::move(pending_);
    pending_ = std::string();
    pending_.reserve(kGzipBlock);
    {
      std::lock_guard lock(mutex_);
      todo_.push_back(job);
    }
    queued_.notify_one();
    inFlight_.push_back(std::move(job));
    while (inFlight_.size() >= maxInFlight_)
      BERTH_TRY(emitFront());
    return okStatus();
  }

  // Waits for the oldest block and writes it out.
  Status emitFront() {
    std::shared_ptr<GzipJob> job = inFlight_.front();
    {
      std::unique_lock lock(mutex_);
      finished_.wait(lock, [&] { return job->done; });
    }
    inFlight_.pop_front();
    if (job->error)
      return *job->error;
    BERTH_TRY(sink_.output(job->output));
    crc_ = ::crc32_combine(crc_, job->crc, static_cast<z_off_t>(job->input.size()));
    length_ += static_cast<int64_t>(job->input.size());
    return okStatus();
  }

  void work() {
    z_stream stream{};
    bool ready = ::deflateInit2(&stream, level_, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK;
    while (true) {
      std::shared_ptr<GzipJob> job;
      {
        std::unique_lock lock(mutex_);
        queued_.wait(lock, [&] { return stop_ || !todo_.empty(); });
        if (todo_.empty())
          break;
        job = todo_.front();
        todo_.pop_front();
      }
      if (!ready)
        job->error = Error("zlib: cannot start deflate (out of memory)");
      else
        deflateBlock(stream, *job);
      {
        std::lock_guard lock(mutex_);
        job->done = true;
      }
      finished_.notify_all();
    }
    if (ready)
      ::deflateEnd(&stream);
  }

  static void deflateBlock(z_stream& stream, GzipJob& job) {
    ::deflateReset(&stream);
    if (!job.dictionary.empty())
      ::deflateSetDictionary(&stream, reinterpret_cast<const Bytef*>(job.dictionary.data()),
                             static_cast<uInt>(job.dictionary.size()));
    job.crc = ::crc32(0, reinterpret_cast<const Bytef*>(job.input.data()),
                      static_cast<uInt>(job.input.size()));
    // Room for the worst case plus the sync flush's empty stored block.
    job.output.resize(::deflateBound(&stream, job.input.size()) + 64);
    stream.next_in = reinterpret_cast<Bytef*>(job.input.data());
    stream.avail_in = static_cast<uInt>(job.input.size());
    stream.next_out = reinterpret_cast<Bytef*>(job.output.data());
    stream.avail_out = static_cast<uInt>(job.output.size());
    int flush = job.last ? Z_FINISH : Z_SYNC_FLUSH;
    int rc = Z_OK;
    while (true) {
      rc = ::deflate(&stream, flush);
      if (rc == Z_STREAM_END ||
          (rc == Z_OK && stream.avail_in == 0 && stream.avail_out > 0 && flush == Z_SYNC_FLUSH))
        break;
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        job.error = Error(fmt::format("zlib: deflate failed ({})", rc));
        return;
      }
      size_t used = job.output.size() - stream.avail_out;
      job.output.resize(job.output.size() * 2);
      stream.next_out = reinterpret_cast<Bytef*>(job.output.data() + used);
      stream.avail_out = static_cast<uInt>(job.output.size() - used);
    }
    job.output.resize(job.output.size() - stream.avail_out);
    job.input.shrink_to_fit();
    job.dictionary.clear();
  }

  Sink sink_;
  int level_;
  size_t maxInFlight_;
  std::string pending_;
  std::string dictionary_;
  std::deque<std::shared_ptr<GzipJob>> inFlight_;  // submitted, in stream order
  uLong crc_ = ::crc32(0, nullptr, 0);
  int64_t length_ = 0;
  std::mutex mutex_;
  std::condition_variable queued_;
  std::condition_variable finished_;
  std::deque<std::shared_ptr<GzipJob>> todo_;
  bool stop_ = false;
  std::vector<std::thread> workers_;  // last: started once everything they use exists
};

struct ZstdFree {
  void operator()(ZSTD_CCtx* context) const { ZSTD_freeCCtx(context); }
};

class ZstdCompressor final : public LayerCompressor {
 public:
  ZstdCompressor(Sink sink, std::unique_ptr<ZSTD_CCtx, ZstdFree> context)
      : sink_(std::move(sink)),
        context_(std::move(context)),
        buffer_(ZSTD_CStreamOutSize(), '\0') {}

  Status write(std::string_view data) override {
    sink_.input(data);
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    while (in.pos < in.size)
      BERTH_TRY(step(in, ZSTD_e_continue).withContext("zstd"));
    return okStatus();
  }

  Result<CompressedLayer> finish() override {
    ZSTD_inBuffer in{nullptr, 0, 0};
    while (true) {
      BERTH_ASSIGN(size_t left, step(in, ZSTD_e_end).withContext("zstd"));
      if (left == 0)
        break;
    }
    return sink_.result();
  }

 private:
  Result<size_t> step(ZSTD_inBuffer& in, ZSTD_EndDirective mode) {
    ZSTD_outBuffer out{buffer_.data(), buffer_.size(), 0};
    size_t left = ZSTD_compressStream2(context_.get(), &out, &in, mode);
    if (ZSTD_isError(left))
      return Error(ZSTD_getErrorName(left));
    BERTH_TRY(sink_.output(std::string_view(buffer_.data(), out.pos)));
    return left;
  }

  Sink sink_;
  std::unique_ptr<ZSTD_CCtx, ZstdFree> context_;
  std::string buffer_;
};

}  // namespace

Result<std::unique_ptr<LayerCompressor>> LayerCompressor::create(const CompressOptions& options,
                                                                 int fd) {
  BERTH_ASSIGN(Sink sink, Sink::create(fd));
  unsigned threads = threadsFor(options.threads);
  switch (options.compression) {
    case image::Compression::kGzip: {
      int level = options.level == 0 ? kDefaultGzipLevel : options.level;
      if (level < 1 || level > 9)
        return Error(fmt::format("gzip level {} is not between 1 and 9", level));
      auto gzip = std::make_unique<ParallelGzip>(std::move(sink), level, threads);
      BERTH_TRY(gzip->start());
      return std::unique_ptr<LayerCompressor>(std::move(gzip));
    }
    case image::Compression::kZstd: {
      int level = options.level == 0 ? kDefaultZstdLevel : options.level;
      if (level < 1 || level > ZSTD_maxCLevel())
        return Error(fmt::format("zstd level {} is not between 1 and {}", level, ZSTD_maxCLevel()));
      std::unique_ptr<ZSTD_CCtx, ZstdFree> context(ZSTD_createCCtx());
      if (!context)
        return Error("zstd: out of memory");
      ZSTD_CCtx_setParameter(context.get(), ZSTD_c_compressionLevel, level);
      ZSTD_CCtx_setParameter(context.get(), ZSTD_c_checksumFlag, 1);
      // Worker threads when libzstd has them (Debian's does); else it compresses inline.
      if (threads > 1)
        (void)ZSTD_CCtx_setParameter(context.get(), ZSTD_c_nbWorkers, static_cast<int>(threads));
      return std::unique_ptr<LayerCompressor>(
          std::make_unique<ZstdCompressor>(std::move(sink), std::move(context)));
    }
    case image::Compression::kNone:
      break;
  }
  return Error("a pushed layer is compressed with gzip or zstd");
}

}  // namespace berth::convert
