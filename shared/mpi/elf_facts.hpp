// What a shared library says about its place in the dynamic loader's world, read from its
// bytes (ELF64 section headers): its soname, the libraries it needs, the symbol versions it
// needs from them (GLIBC_2.34, ...) and those it defines (a libc.so.6 defines GLIBC_2.2.5 up to
// its own version). The host-MPI check compares these, never by running anything.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::mpi {

struct ElfFacts {
  std::string soname;                     // DT_SONAME; empty for a program
  std::vector<std::string> needed;        // DT_NEEDED, in order
  std::vector<std::string> needVersions;  // version names needed (.gnu.version_r)
  std::vector<std::string> defVersions;   // version names defined (.gnu.version_d), no base
};

// Parses a little-endian ELF64 file's dynamic section and version tables; "not an ELF64 file"
// or "truncated ..." when the bytes do not hold them.
[[nodiscard]] Result<ElfFacts> readElfFacts(std::string_view bytes);

// A glibc version ("2.34"), ordered numerically.
struct GlibcVersion {
  int major = 0;
  int minor = 0;
  auto operator<=>(const GlibcVersion&) const = default;
  std::string text() const;
};

// "GLIBC_2.34" -> 2.34; nothing for other names (GLIBC_PRIVATE, GCC_3.0).
std::optional<GlibcVersion> parseGlibcVersionName(std::string_view name);

// The highest GLIBC_x.y among `names`; nothing when none is one.
std::optional<GlibcVersion> highestGlibc(const std::vector<std::string>& names);

}  // namespace berth::mpi
