#include "shared/gpu/ld_cache.hpp"

#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "shared/core/read_file.hpp"

namespace berth::gpu {
namespace {

constexpr std::string_view kNewMagic = "glibc-ld.so.cache";
constexpr std::string_view kNewVersion = "1.1";
constexpr std::string_view kOldMagic = "ld.so-1.7.0";
constexpr size_t kNewHeaderSize = 48;
constexpr size_t kNewEntrySize = 24;
constexpr size_t kOldHeaderSize = 16;  // magic (11) + pad to 12, u32 nlibs
constexpr size_t kOldEntrySize = 12;   // i32 flags, u32 key, u32 value
constexpr uint32_t kExtensionMagic = 0xeaa42174;
constexpr uint32_t kExtensionTagHwcaps = 1;          // cache_extension_tag_glibc_hwcaps
constexpr uint64_t kHwcapExtensionBit = 1ull << 62;  // DL_CACHE_HWCAP_EXTENSION
constexpr uint8_t kEndianMask = 3;
constexpr uint8_t kEndianUnset = 0;  // older ldconfig: host order assumed
constexpr uint8_t kEndianLittle = 2;
constexpr uint8_t kEndianBig = 3;

// A bounds-checked reader over the bytes of the new-format part of the cache.
class Bytes {
 public:
  explicit Bytes(std::string_view data) : data_(data) {}
  size_t size() const { return data_.size(); }

  bool has(size_t offset, size_t length) const {
    return offset <= data_.size() && length <= data_.size() - offset;
  }
  template <typename T>
  T read(size_t offset) const {  // callers check has() first
    T value;
    std::memcpy(&value, data_.data() + offset, sizeof value);
    return value;
  }
  // The NUL-terminated string at `offset`, or an error when it runs past the end.
  Result<std::string> string(size_t offset, std::string_view what) const {
    if (offset >= data_.size())
      return Error(fmt::format("{} offset {} is past the end ({} bytes)", what, offset, size()));
    size_t end = data_.find('\0', offset);
    if (end == std::string_view::npos)
      return Error(fmt::format("{} at offset {} is not NUL-terminated", what, offset));
    return std::string(data_.substr(offset, end - offset));
  }

 private:
  std::string_view data_;
};

// Where the new-format header starts: 0, or after the old format's entries.
Result<size_t> newFormatStart(std::string_view bytes) {
  if (bytes.substr(0, kNewMagic.size()) == kNewMagic)
    return size_t{0};
  if (bytes.substr(0, kOldMagic.size()) != kOldMagic)
    return Error("not an ld.so.cache file (unknown magic)");
  Bytes old(bytes);
  if (!old.has(0, kOldHeaderSize))
    return Error("truncated old-format header");
  auto nlibs = old.read<uint32_t>(12);
  uint64_t end = kOldHeaderSize + uint64_t{nlibs} * kOldEntrySize;
  end = (end + 7) & ~uint64_t{7};  // the new header is aligned like its u64 fields
  if (end + kNewMagic.size() > bytes.size() ||
      bytes.substr(static_cast<size_t>(end), kNewMagic.size()) != kNewMagic)
    return Error("old-format cache without a glibc-ld.so.cache1.1 part (unsupported)");
  return static_cast<size_t>(end);
}

// The glibc-hwcaps subdirectory names of the extension, indexed as entries' hwcap refer to them.
// The extension and its sections are located by offsets from the start of the file; the names
// they list are string offsets like the entries' (from the new-format header).
Result<std::vector<std::string>> readHwcapsNames(const Bytes& file, const Bytes& cache,
                                                 uint32_t extensionOffset) {
  std::vector<std::string> names;
  if (extensionOffset == 0)
    return names;
  if (!file.has(extensionOffset, 8))
    return Error(fmt::format("extension offset {} is past the end", extensionOffset));
  if (file.read<uint32_t>(extensionOffset) != kExtensionMagic)
    return Error("extension has a bad magic number");
  uint32_t count = file.read<uint32_t>(extensionOffset + 4);
  size_t sections = extensionOffset + 8;
  if (!file.has(sections, uint64_t{count} * 16))
    return Error(fmt::format("extension claims {} sections past the end", count));
  for (uint32_t i = 0; i < count; ++i) {
    size_t section = sections + size_t{i} * 16;
    if (file.read<uint32_t>(section) != kExtensionTagHwcaps)
      continue;  // the generator string and future tags are not needed here
    uint32_t offset = file.read<uint32_t>(section + 8);
    uint32_t size = file.read<uint32_t>(section + 12);
    if (size % 4 != 0 || !file.has(offset, size))
      return Error("glibc-hwcaps extension section is out of bounds");
    for (uint32_t k = 0; k < size / 4; ++k) {
      BERTH_ASSIGN(std::string name,
                   cache.string(file.read<uint32_t>(offset + k * 4), "glibc-hwcaps name"));
      names.push_back(std::move(name));
    }
  }
  return names;
}

}  // namespace

Result<LdCache> parseLdCache(std::string_view bytes) {
  auto parse = [&]() -> Result<LdCache> {
    BERTH_ASSIGN(size_t start, newFormatStart(bytes));
    Bytes cache(bytes.substr(start));
    if (!cache.has(0, kNewHeaderSize))
      return Error("truncated header");
    if (bytes.substr(start + kNewMagic.size(), kNewVersion.size()) != kNewVersion)
      return Error("unsupported cache version (want 1.1)");
    uint8_t endian = cache.read<uint8_t>(28) & kEndianMask;
    bool hostLittle = std::endian::native == std::endian::little;
    if (endian != kEndianUnset && endian != (hostLittle ? kEndianLittle : kEndianBig))
      return Error("cache was written for the other byte order");
    uint32_t nlibs = cache.read<uint32_t>(20);
    uint32_t extensionOffset = cache.read<uint32_t>(32);
    if (!cache.has(kNewHeaderSize, uint64_t{nlibs} * kNewEntrySize))
      return Error(fmt::format("{} entries do not fit in {} bytes", nlibs, bytes.size()));
    BERTH_ASSIGN(auto hwcapsNames, readHwcapsNames(Bytes(bytes), cache, extensionOffset));

    LdCache result;
    result.entries.reserve(nlibs);
    for (uint32_t i = 0; i < nlibs; ++i) {
      size_t at = kNewHeaderSize + size_t{i} * kNewEntrySize;
      LdCacheEntry entry;
      entry.flags = cache.read<int32_t>(at);
      BERTH_ASSIGN(entry.soname, cache.string(cache.read<uint32_t>(at + 4), "key"));
      BERTH_ASSIGN(entry.path, cache.string(cache.read<uint32_t>(at + 8), "value"));
      entry.hwcap = cache.read<uint64_t>(at + 16);
      if ((entry.hwcap & kHwcapExtensionBit) != 0) {
        uint32_t index = static_cast<uint32_t>(entry.hwcap);
        if (index >= hwcapsNames.size())
          return Error(fmt::format("entry {} names glibc-hwcaps index {} of {}", i, index,
                                   hwcapsNames.size()));
        entry.hwcapsDir = hwcapsNames[index];
      }
      result.entries.push_back(std::move(entry));
    }
    return result;
  };
  return parse().withContext("parse ld.so.cache");
}

Result<LdCache> readLdCache(const std::string& path) {
  BERTH_ASSIGN(std::string content, readWholeFile(path).withContext("ld.so.cache"));
  return parseLdCache(content).withContext(fmt::format("`{}`", path));
}

int32_t hostLibraryFlags() {
  constexpr int32_t kElfLibc6 = 0x0003;  // FLAG_ELF_LIBC6
#if defined(__x86_64__)
  return kElfLibc6 | 0x0300;  // FLAG_X8664_LIB64
#elif defined(__aarch64__)
  return kElfLibc6 | 0x0a00;  // FLAG_AARCH64_LIB64
#else
  return kElfLibc6;
#endif
}

}  // namespace berth::gpu
