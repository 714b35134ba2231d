#include "shared/image/curl_library.hpp"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include <fmt/format.h>

namespace berth::image {
namespace {

constexpr const char* kSoname = "libcurl.so.4";

template <typename Fn>
bool resolve(void* library, const char* symbol, Fn& out, std::string& missing) {
  out = reinterpret_cast<Fn>(::dlsym(library, symbol));
  if (out == nullptr)
    missing = symbol;
  return out != nullptr;
}

Result<const CurlLibrary*> load() {
  void* library = ::dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr)
    return Error(fmt::format("cannot load {}: {}", kSoname, ::dlerror()));
  static CurlLibrary api{};
  CURLcode (*globalInit)(long) = nullptr;
  std::string missing;
  bool complete = resolve(library, "curl_global_init", globalInit, missing) &&
                  resolve(library, "curl_easy_init", api.easyInit, missing) &&
                  resolve(library, "curl_easy_cleanup", api.easyCleanup, missing) &&
                  resolve(library, "curl_easy_reset", api.easyReset, missing) &&
                  resolve(library, "curl_easy_setopt", api.easySetopt, missing) &&
                  resolve(library, "curl_easy_getinfo", api.easyGetinfo, missing) &&
                  resolve(library, "curl_easy_perform", api.easyPerform, missing) &&
                  resolve(library, "curl_easy_strerror", api.easyStrerror, missing) &&
                  resolve(library, "curl_slist_append", api.slistAppend, missing) &&
                  resolve(library, "curl_slist_free_all", api.slistFreeAll, missing);
  if (!complete)
    return Error(fmt::format("{} lacks `{}`", kSoname, missing));
  if (globalInit(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return Error(fmt::format("{}: curl_global_init failed", kSoname));
  return &api;  // the library stays loaded: libcurl must not be unloaded after global init
}

}  // namespace

Result<const CurlLibrary*> curlLibrary() {
  static std::once_flag once;
  static Result<const CurlLibrary*> loaded = Error("libcurl not loaded");
  std::call_once(once, [] { loaded = load(); });
  return loaded;
}

}  // namespace berth::image
