#include "shared/convert/inflate_gzip.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>

#include <fmt/format.h>

#include "shared/core/process_env.hpp"
#include "shared/sys/shared_library.hpp"

#if __has_include(<isa-l/igzip_lib.h>)
#include <isa-l/igzip_lib.h>
#define BERTH_HAVE_ISAL 1
#else
#define BERTH_HAVE_ISAL 0
#endif

namespace berth::convert {
namespace {

constexpr unsigned char kMagic0 = 0x1f;
constexpr unsigned char kMagic1 = 0x8b;

// One call never hands a backend more than its 32-bit counters hold.
uint32_t clamp32(size_t n) {
  return static_cast<uint32_t>(std::min<size_t>(n, UINT32_MAX));
}

class ZlibInflater final : public GzipInflater {
 public:
  ~ZlibInflater() override {
    if (initialized_)
      ::inflateEnd(&stream_);
  }
  GzipBackend backend() const override { return GzipBackend::kZlib; }

 private:
  Status resetMember() override {
    if (initialized_)
      return ::inflateReset(&stream_) == Z_OK ? okStatus() : Error("zlib: inflateReset failed");
    stream_ = {};
    // 16 + 15: a gzip wrapper (header and trailer checked), 32 KiB window.
    if (::inflateInit2(&stream_, 16 + MAX_WBITS) != Z_OK)
      return Error("zlib: inflateInit2 failed");
    initialized_ = true;
    return okStatus();
  }

  Result<size_t> step(const unsigned char** in, const unsigned char* inEnd, unsigned char* out,
                      size_t size, bool* memberEnd) override {
    stream_.next_in = const_cast<Bytef*>(*in);
    stream_.avail_in = clamp32(static_cast<size_t>(inEnd - *in));
    stream_.next_out = out;
    stream_.avail_out = clamp32(size);
    int rc = ::inflate(&stream_, Z_NO_FLUSH);
    *in = stream_.next_in;
    size_t written = static_cast<size_t>(stream_.next_out - out);
    *memberEnd = rc == Z_STREAM_END;
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
      return Error(fmt::format("gzip (zlib): {}", stream_.msg ? stream_.msg : "corrupt data"));
    return written;
  }

  z_stream stream_{};
  bool initialized_ = false;
};

#if BERTH_HAVE_ISAL

// The ISA-L entry points berth uses, resolved from libisal.so.2 (typed from the header).
struct IsalLibrary {
  decltype(&::isal_inflate_init) init;
  decltype(&::isal_inflate) run;
};

Result<const IsalLibrary*> loadIsal() {
  BERTH_ASSIGN(sys::SharedLibrary library, sys::SharedLibrary::open("libisal.so.2"));
  static IsalLibrary api{};
  BERTH_TRY(library.resolve("isal_inflate_init", api.init));
  BERTH_TRY(library.resolve("isal_inflate", api.run));
  return &api;
}

Result<const IsalLibrary*> isalLibrary() {
  // Loaded once per process (a function-local static: thread-safe initialisation).
  static const Result<const IsalLibrary*> loaded = loadIsal();
  return loaded;
}

std::string_view isalMessage(int rc) {
  switch (rc) {
    case ISAL_INVALID_BLOCK:
      return "invalid deflate block";
    case ISAL_INVALID_SYMBOL:
      return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK:
      return "invalid lookback distance";
    case ISAL_INVALID_WRAPPER:
      return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD:
      return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM:
      return "incorrect checksum";
    case ISAL_NEED_DICT:
      return "needs a preset dictionary";
    default:
      return "corrupt data";
  }
}

class IsalInflater final : public GzipInflater {
 public:
  explicit IsalInflater(const IsalLibrary* lib)
      : lib_(lib), state_(std::make_unique<inflate_state>()) {}
  GzipBackend backend() const override { return GzipBackend::kIsal; }

 private:
  Status resetMember() override {
    lib_->init(state_.get());
    state_->crc_flag = ISAL_GZIP;  // parse the header, check the trailer's CRC-32 and length
    return okStatus();
  }

  Result<size_t> step(const unsigned char** in, const unsigned char* inEnd, unsigned char* out,
                      size_t size, bool* memberEnd) override {
    inflate_state& s = *state_;
    s.next_in = const_cast<uint8_t*>(*in);
    s.avail_in = clamp32(static_cast<size_t>(inEnd - *in));
    s.next_out = out;
    s.avail_out = clamp32(size);
    int rc = lib_->run(&s);
    *in = s.next_in;  // at a member's end ISA-L gives back what it read past the trailer
    size_t written = static_cast<size_t>(s.next_out - out);
    *memberEnd = s.block_state == ISAL_BLOCK_FINISH;
    if (rc < 0 || rc == ISAL_NEED_DICT)
      return Error(fmt::format("gzip (ISA-L): {}", isalMessage(rc)));
    return written;
  }

  const IsalLibrary* lib_;
  std::unique_ptr<inflate_state> state_;  // ~200 KiB of tables and history: on the heap
};

#endif  // BERTH_HAVE_ISAL

}  // namespace

std::string_view gzipBackendName(GzipBackend backend) {
  switch (backend) {
    case GzipBackend::kAuto:
      return "auto";
    case GzipBackend::kIsal:
      return "ISA-L";
    case GzipBackend::kZlib:
      return "zlib";
  }
  return "?";
}

bool isalAvailable() {
#if BERTH_HAVE_ISAL
  return isalLibrary().ok();
#else
  return false;
#endif
}

bool isGzip(const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  return size >= 2 && bytes[0] == kMagic0 && bytes[1] == kMagic1;
}

Result<std::unique_ptr<GzipInflater>> GzipInflater::create(GzipBackend backend) {
  if (backend == GzipBackend::kAuto && processEnv(kGzipInflaterVariable) == "zlib")
    backend = GzipBackend::kZlib;
#if BERTH_HAVE_ISAL
  if (backend != GzipBackend::kZlib) {
    auto lib = isalLibrary();
    if (lib.ok())
      return std::unique_ptr<GzipInflater>(std::make_unique<IsalInflater>(*lib));
    if (backend == GzipBackend::kIsal)
      return lib.error();
  }
#else
  if (backend == GzipBackend::kIsal)
    return Error("ISA-L: berth was built without isa-l/igzip_lib.h");
#endif
  return std::unique_ptr<GzipInflater>(std::make_unique<ZlibInflater>());
}

void GzipInflater::feed(const void* data, size_t size) {
  in_ = static_cast<const unsigned char*>(data);
  inEnd_ = in_ + size;
  inputEnded_ = size == 0;
}

Result<bool> GzipInflater::nextMember() {
  size_t available = static_cast<size_t>(inEnd_ - in_);
  if (carry_) {
    if (available == 0 && !inputEnded_)
      return false;
    carry_ = false;
    if (available == 0 || *in_ != kMagic1) {
      finished_ = true;  // a lone 0x1f and then something else: trailing data
      return true;
    }
    betweenMembers_ = false;
    BERTH_TRY(resetMember());
    // The 0x1f went with the buffer before: hand it over on its own first.
    const unsigned char* magic = &kMagic0;
    unsigned char none[1];  // a header byte makes no output
    bool memberEnd = false;
    BERTH_ASSIGN(size_t n, step(&magic, &kMagic0 + 1, none, sizeof none, &memberEnd));
    if (magic != &kMagic0 + 1 || n != 0 || memberEnd)
      return Error("gzip: the inflater refused the header's first byte");
    return true;
  }
  if (available == 0 && !inputEnded_)
    return false;
  if (available == 1 && !inputEnded_ && *in_ == kMagic0) {
    carry_ = true;
    in_ = inEnd_;
    return false;
  }
  if (!isGzip(in_, available)) {
    finished_ = true;  // zero padding or other trailing bytes: not part of the stream
    return true;
  }
  betweenMembers_ = false;
  BERTH_TRY(resetMember());
  return true;
}

Result<size_t> GzipInflater::inflate(void* out, size_t size) {
  if (!started_) {
    BERTH_TRY(resetMember());
    started_ = true;
  }
  auto* bytes = static_cast<unsigned char*>(out);
  size_t written = 0;
  while (written < size && !finished_) {
    if (betweenMembers_) {
      BERTH_ASSIGN(bool decided, nextMember());
      if (!decided)
        break;
      continue;
    }
    const unsigned char* before = in_;
    bool memberEnd = false;
    BERTH_ASSIGN(size_t n, step(&in_, inEnd_, bytes + written, size - written, &memberEnd));
    written += n;
    if (memberEnd) {
      betweenMembers_ = true;
      continue;
    }
    if (n == 0 && in_ == before) {
      if (in_ != inEnd_)
        return Error("gzip: the inflater makes no progress");
      if (inputEnded_)
        return Error("gzip: truncated stream");
      break;  // wants more input
    }
  }
  return written;
}

}  // namespace berth::convert
