#include "shared/registry/curl_library.hpp"

#include "shared/sys/shared_library.hpp"

namespace berth::registry {
namespace {

Result<const CurlLibrary*> load() {
  BERTH_ASSIGN(sys::SharedLibrary library, sys::SharedLibrary::open("libcurl.so.4"));
  static CurlLibrary api{};
  CURLcode (*globalInit)(long) = nullptr;
  BERTH_TRY(library.resolve("curl_global_init", globalInit));
  BERTH_TRY(library.resolve("curl_easy_init", api.easyInit));
  BERTH_TRY(library.resolve("curl_easy_cleanup", api.easyCleanup));
  BERTH_TRY(library.resolve("curl_easy_reset", api.easyReset));
  BERTH_TRY(library.resolve("curl_easy_setopt", api.easySetopt));
  BERTH_TRY(library.resolve("curl_easy_getinfo", api.easyGetinfo));
  BERTH_TRY(library.resolve("curl_easy_perform", api.easyPerform));
  BERTH_TRY(library.resolve("curl_easy_strerror", api.easyStrerror));
  BERTH_TRY(library.resolve("curl_slist_append", api.slistAppend));
  BERTH_TRY(library.resolve("curl_slist_free_all", api.slistFreeAll));
  if (globalInit(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return Error("libcurl.so.4: curl_global_init failed");
  return &api;  // the library stays loaded: libcurl must not be unloaded after global init
}

}  // namespace

Result<const CurlLibrary*> curlLibrary() {
  // Loaded once per process (a function-local static: thread-safe initialisation).
  static const Result<const CurlLibrary*> loaded = load();
  return loaded;
}

}  // namespace berth::registry
