#include "shared/image/crypto_library.hpp"

#include "shared/sys/shared_library.hpp"

#include <mutex>

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
  static std::once_flag once;
  static Result<const CryptoLibrary*> loaded = Error("libcrypto not loaded");
  std::call_once(once, [] { loaded = load(); });
  return loaded;
}

}  // namespace berth::image
