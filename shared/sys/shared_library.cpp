#include "shared/sys/shared_library.hpp"

#include <dlfcn.h>

#include <fmt/format.h>

namespace berth::sys {

Result<SharedLibrary> SharedLibrary::open(const std::string& soname) {
  void* handle = ::dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr)
    return Error(fmt::format("cannot load {}: {}", soname, ::dlerror()));
  return SharedLibrary(handle, soname);
}

void* SharedLibrary::lookup(const char* symbol) const {
  return ::dlsym(handle_, symbol);
}

}  // namespace berth::sys
