// libcrypto (OpenSSL), loaded the first time berth computes a SHA-256 or speaks base64.
//
// Linking libcrypto costs every process that loads berth ~1.8 ms at start-up (`berth exec`, and
// every srun and slurmstepd through spank_berth.so); only pulls and conversions hash, so the
// library is opened on first use instead. The types come from the header alone.
#pragma once

#include <openssl/evp.h>

#include "shared/core/result.hpp"

namespace berth::image {

// The libcrypto entry points berth uses, resolved from libcrypto.so.3 (typed from the header's
// declarations, which are never called directly).
struct CryptoLibrary {
  decltype(&::EVP_MD_CTX_new) mdCtxNew;
  decltype(&::EVP_MD_CTX_free) mdCtxFree;
  decltype(&::EVP_sha256) sha256;
  decltype(&::EVP_DigestInit_ex) digestInit;
  decltype(&::EVP_DigestUpdate) digestUpdate;
  decltype(&::EVP_DigestFinal_ex) digestFinal;
  decltype(&::EVP_EncodeBlock) encodeBlock;
  decltype(&::EVP_DecodeBlock) decodeBlock;
};

// Opens libcrypto once per process; stays loaded until exit.
Result<const CryptoLibrary*> cryptoLibrary();

}  // namespace berth::image
