#include "shared/image/crypto_library.hpp"

#include "shared/sys/shared_library.hpp"

namespace berth::image {
namespace {

Result<const CryptoLibrary*> load() {
  BERTH_ASSIGN(sys::SharedLibrary library, sys::SharedLibrary::open("libcrypto.so.3"));
  static CryptoLibrary api{};
  BERTH_TRY(library.resolve("EVP_MD_CTX_new", api.mdCtxNew));
  BERTH_TRY(library.resolve("EVP_MD_CTX_free", api.mdCtxFree));
  BERTH_TRY(library.resolve("EVP_sha256", api.sha256));
  BERTH_TRY(library.resolve("EVP_DigestInit_ex", api.digestInit));
  BERTH_TRY(library.resolve("EVP_DigestUpdate", api.digestUpdate));
  BERTH_TRY(library.resolve("EVP_DigestFinal_ex", api.digestFinal));
  BERTH_TRY(library.resolve("EVP_EncodeBlock", api.encodeBlock));
  BERTH_TRY(library.resolve("EVP_DecodeBlock", api.decodeBlock));
  return &api;  // the library stays loaded: OpenSSL keeps global state until exit
}

}  // namespace

Result<const CryptoLibrary*> cryptoLibrary() {
  // Loaded once per process (a function-local static: thread-safe initialisation).
  static const Result<const CryptoLibrary*> loaded = load();
  return loaded;
}

}  // namespace berth::image
