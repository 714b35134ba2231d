// GzipInflater: the gzip layers' decompression, with ISA-L's inflate where it is there and
// zlib otherwise.
//
// ISA-L (libisal.so.2, `isal_inflate`) inflates about 3x faster than zlib on x86-64 (AVX2 and
// AVX-512 code paths): for gzip layers, inflating is most of the reading thread's work. Like
// libarchive, it is opened at run time on first use (shared/sys/shared_library.hpp), so that
// no other path loads it; built without its header (isa-l/igzip_lib.h) or run where
// libisal.so.2 is missing, berth inflates with zlib. Both give the same bytes: a gzip stream
// has exactly one decompressed form, and the images made from it are identical.
//
// Concatenated members (`cat a.gz b.gz`) are one stream, as for gzip(1) and libarchive; bytes
// after the last member that do not start another member are ignored (zero padding). Each
// member's CRC-32 and length are checked.
//
// BERTH_GZIP_INFLATER=zlib in berth's environment makes kAuto use zlib (to compare, or should
// ISA-L ever misbehave on some CPU).
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "shared/core/result.hpp"

namespace berth::convert {

inline constexpr std::string_view kGzipInflaterVariable = "BERTH_GZIP_INFLATER";

enum class GzipBackend {
  kAuto,  // ISA-L when available, else zlib (zlib also when BERTH_GZIP_INFLATER=zlib)
  kIsal,
  kZlib,
};

std::string_view gzipBackendName(GzipBackend backend);

// True when this build has ISA-L's header and libisal.so.2 opens here (loads it on first use).
bool isalAvailable();

// True when `data` starts with the gzip magic (1f 8b).
bool isGzip(const void* data, size_t size);

class GzipInflater {
 public:
  // kIsal fails where ISA-L is not available; kAuto never does for that reason.
  static Result<std::unique_ptr<GzipInflater>> create(GzipBackend backend = GzipBackend::kAuto);
  virtual ~GzipInflater() = default;

  // The backend really used (kIsal or kZlib).
  virtual GzipBackend backend() const = 0;

  // Gives the next compressed bytes; they must stay valid until inflate() next returns 0
  // without having finished (it wants more). `size` 0 says the input has ended.
  void feed(const void* data, size_t size);
  // True after the last member's trailer.
  bool finished() const { return finished_; }

  // Inflates into `out` (at most `size` bytes): the number of bytes written; 0 when it has
  // finished or needs more input (feed()); an error for a corrupt or truncated stream.
  Result<size_t> inflate(void* out, size_t size);

 protected:
  GzipInflater() = default;
  // Starts a new member (the first one too).
  virtual Status resetMember() = 0;
  // Inflates from [*in, inEnd) into [out, out + size): advances *in, returns the bytes
  // written and sets *memberEnd after the member's trailer.
  virtual Result<size_t> step(const unsigned char** in, const unsigned char* inEnd,
                              unsigned char* out, size_t size, bool* memberEnd) = 0;

 private:
  // After a member's trailer: starts the next member, or finishes when the bytes that follow
  // are not one. False when it needs more input to tell.
  Result<bool> nextMember();

  const unsigned char* in_ = nullptr;
  const unsigned char* inEnd_ = nullptr;
  bool inputEnded_ = false;
  bool started_ = false;
  bool betweenMembers_ = false;
  bool finished_ = false;
  // A 0x1f left at the end of one input buffer after a trailer: the next buffer's first byte
  // tells whether it starts another member.
  bool carry_ = false;
};

}  // namespace berth::convert
