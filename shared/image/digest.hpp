// Content digests ("sha256:<64 hex>") and a streaming SHA-256 verifier (OpenSSL EVP, from
// libcrypto opened on first use: shared/image/crypto_library.hpp).
//
// Blobs are verified while they stream to disk: every chunk goes through a Sha256Hasher, and the
// final value is compared with the digest the manifest promised before the file is kept.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "shared/core/result.hpp"

namespace berth::image {

inline constexpr std::string_view kSha256Prefix = "sha256:";

// Checks the "ALGORITHM:HEX" form; only sha256 (64 lowercase hex digits) is supported.
Status validateDigest(std::string_view digest);

// The hex part of a valid sha256 digest ("sha256:ab.." -> "ab..").
std::string_view digestHex(std::string_view digest);

// Incremental SHA-256. Move-only; owns an EVP_MD_CTX.
class Sha256Hasher {
 public:
  // Fails only when libcrypto cannot be loaded (or is out of memory).
  [[nodiscard]] static Result<Sha256Hasher> create();
  Sha256Hasher(Sha256Hasher&&) noexcept;
  Sha256Hasher& operator=(Sha256Hasher&&) noexcept;
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  ~Sha256Hasher();

  void update(std::string_view data);
  // "sha256:<hex>" of everything fed so far; the hasher restarts empty afterwards.
  std::string finish();
  // Forgets everything fed so far.
  void reset();

 private:
  struct Ctx;
  explicit Sha256Hasher(std::unique_ptr<Ctx> ctx);
  std::unique_ptr<Ctx> ctx_;
};

// "sha256:<hex>" of `data`.
Result<std::string> sha256Digest(std::string_view data);

// SHA-256 of a whole file (read in chunks), as "sha256:<hex>".
Result<std::string> sha256File(const std::string& path);

// Checks that `actual` equals `expected`: "digest mismatch: expected X, got Y" otherwise.
Status checkDigest(std::string_view expected, std::string_view actual);

// Checks that the SHA-256 of `data` is `expected` (checkDigest's message on a mismatch).
Status verifyDigest(std::string_view expected, std::string_view data);

}  // namespace berth::image
