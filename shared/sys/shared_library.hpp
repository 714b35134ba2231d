// A shared library opened at run time (dlopen), for dependencies only some commands need.
//
// Linking a library makes every process that loads berth pay for it and its dependencies at
// start-up (`berth exec`, and every srun and slurmstepd through spank_berth.so). Libraries only
// one path needs (libcurl for pulls, libsquashfuse for unprivileged containers) are opened the
// first time that path runs instead.
#pragma once

#include <string>

#include "shared/core/result.hpp"

namespace berth::sys {

class SharedLibrary {
 public:
  // dlopen(soname, RTLD_NOW | RTLD_LOCAL). The library is never closed: the handle outlives
  // the object, as libraries with global state (libcurl) must not be unloaded.
  [[nodiscard]] static Result<SharedLibrary> open(const std::string& soname);

  // Resolves `symbol` (searched in the library and its dependencies) into `out`.
  template <typename Fn>
  [[nodiscard]] Status resolve(const char* symbol, Fn& out) const {
    out = reinterpret_cast<Fn>(lookup(symbol));
    if (out == nullptr)
      return Error(soname_ + " lacks `" + symbol + "`");
    return okStatus();
  }

 private:
  SharedLibrary(void* handle, std::string soname) : handle_(handle), soname_(std::move(soname)) {}
  void* lookup(const char* symbol) const;

  void* handle_;
  std::string soname_;
};

}  // namespace berth::sys
