// The dynamic loader's cache (/etc/ld.so.cache) read as data, the way ld.so reads it: the glibc
// "glibc-ld.so.cache1.1" format that ldconfig writes since glibc 2.32 (alone, as on Debian 12),
// optionally behind the old "ld.so-1.7.0" format (the compat layout of older ldconfigs).
//
// Layout (glibc elf/cache.c, sysdeps/generic/dl-cache.h), all integers in host byte order:
//   header (48 bytes): magic "glibc-ld.so.cache" + version "1.1", u32 nlibs, u32 len_strings,
//                      u8 flags (byte order), 3 pad, u32 extension_offset, 3 u32 unused
//   nlibs entries (24 bytes each): i32 flags, u32 key, u32 value, u32 osversion, u64 hwcap
//   string table; key and value are offsets from the start of the new-format header
//   extension (optional): u32 magic 0xeaa42174, u32 count, count x {u32 tag, flags, offset, size};
//   its offsets count from the start of the file (they differ in the compat layout)
// An entry maps a soname (key, "libcuda.so.1") to the path of that name on disk (value,
// "/usr/lib/x86_64-linux-gnu/libcuda.so.1"), usually a symbolic link to the versioned file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::gpu {

struct LdCacheEntry {
  std::string soname;     // the key: "libcuda.so.1"
  std::string path;       // the value: "/usr/lib/x86_64-linux-gnu/libcuda.so.1"
  int32_t flags = 0;      // FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 = 0x0303 for x86-64 libraries
  uint64_t hwcap = 0;     // legacy hwcap bits, or bit 62 + an index into the hwcaps names
  std::string hwcapsDir;  // the glibc-hwcaps subdirectory ("x86-64-v3"), empty when none
};

struct LdCache {
  std::vector<LdCacheEntry> entries;  // in cache order (ld.so's search order)
};

// Parses a whole cache file's bytes. Every offset is bounds-checked; malformed input is an error
// naming what was wrong, never a crash (the fuzz target tests/fuzz/ldcache_fuzz.cpp holds us to
// that).
Result<LdCache> parseLdCache(std::string_view bytes);

// Reads and parses the cache file at `path`.
Result<LdCache> readLdCache(const std::string& path);

// The entry flags of libraries the host's loader can use (ld.so's _dl_cache_check_flags):
// 0x0303 on x86-64, 0x0a03 on aarch64.
int32_t hostLibraryFlags();

}  // namespace berth::gpu
