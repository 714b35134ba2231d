#include "shared/convert/layer_reader.hpp"

#include <algorithm>
#include <fstream>

#include <fmt/format.h>

#include "shared/convert/archive_library.hpp"
#include "shared/convert/inflate_gzip.hpp"
#include "shared/core/strings.hpp"

namespace berth::convert {
namespace {

EntryType entryTypeFromMode(mode_t type) {
  switch (type) {
    case AE_IFDIR:
      return EntryType::kDirectory;
    case AE_IFLNK:
      return EntryType::kSymlink;
    case AE_IFCHR:
      return EntryType::kCharDevice;
    case AE_IFBLK:
      return EntryType::kBlockDevice;
    case AE_IFIFO:
      return EntryType::kFifo;
    case AE_IFSOCK:
      return EntryType::kSocket;
    default:
      return EntryType::kRegular;
  }
}

bool isGzipFile(const std::filesystem::path& path) {
  unsigned char magic[2] = {};
  std::ifstream in(path, std::ios::binary);
  return in.read(reinterpret_cast<char*>(magic), sizeof magic) && isGzip(magic, sizeof magic);
}

Status configureTarReader(const ArchiveLibrary& lib, struct archive* a) {
  // Only the formats and filters layers use: a smaller attack surface than *_all.
  if (lib.supportFormatTar(a) != ARCHIVE_OK)
    return archiveErrorOf(lib, a, "libarchive");
  return supportLayerFilters(lib, a);
}

}  // namespace

std::string_view entryTypeName(EntryType type) {
  switch (type) {
    case EntryType::kRegular:
      return "file";
    case EntryType::kDirectory:
      return "directory";
    case EntryType::kSymlink:
      return "symlink";
    case EntryType::kHardlink:
      return "hard link";
    case EntryType::kCharDevice:
      return "character device";
    case EntryType::kBlockDevice:
      return "block device";
    case EntryType::kFifo:
      return "fifo";
    case EntryType::kSocket:
      return "socket";
  }
  return "?";
}

Result<std::string> normalizeLayerPath(std::string_view raw) {
  if (raw.size() > kMaxPathLength)
    return Error(fmt::format("path of {} bytes is longer than {}", raw.size(), kMaxPathLength));
  if (raw.find('\0') != std::string_view::npos)
    return Error("path contains a NUL byte");
  std::string out;
  out.reserve(raw.size());
  for (const std::string& part : split(raw, '/')) {
    if (part.empty() || part == ".")
      continue;
    if (part == "..")
      return Error(fmt::format("path `{}` leaves the root (`..`)", raw));
    if (part.size() > kMaxNameLength)
      return Error(fmt::format("name of {} bytes is longer than {}", part.size(), kMaxNameLength));
    if (!out.empty())
      out += '/';
    out += part;
  }
  return out;
}

void LayerReader::ArchiveDeleter::operator()(struct archive* a) const {
  library->readFree(a);
}

Error LayerReader::archiveError(std::string_view what) const {
  return archiveErrorOf(*lib_, archive_.get(), what);
}

Result<LayerReader> LayerReader::openFile(const std::filesystem::path& blob,
                                          const LayerDigests& expected, GzipBackend gzip) {
  BERTH_ASSIGN(const ArchiveLibrary* lib, archiveLibrary());
  // gzip blobs go through GzipInflater (ISA-L) in any case, with nothing to hash when
  // `expected` is empty.
  if (!expected.empty() || isGzipFile(blob))
    return openVerified(lib, blob, expected, gzip);
  ArchivePtr a(lib->readNew(), ArchiveDeleter{lib});
  if (!a)
    return Error("libarchive: out of memory");
  BERTH_TRY(configureTarReader(*lib, a.get()));
  LayerReader reader(lib, std::move(a), blob.string(), false);
  if (lib->readOpenFilename(reader.archive_.get(), blob.c_str(), 1 << 20) != ARCHIVE_OK)
    return reader.archiveError(fmt::format("open layer `{}`", blob.string()));
  return reader;
}

Result<LayerReader> LayerReader::openMemory(const void* data, size_t size) {
  BERTH_ASSIGN(const ArchiveLibrary* lib, archiveLibrary());
  ArchivePtr a(lib->readNew(), ArchiveDeleter{lib});
  if (!a)
    return Error("libarchive: out of memory");
  BERTH_TRY(configureTarReader(*lib, a.get()));
  LayerReader reader(lib, std::move(a), "<memory>", false);
  if (lib->readOpenMemory(reader.archive_.get(), data, size) != ARCHIVE_OK)
    return reader.archiveError("open layer in memory");
  return reader;
}

Result<LayerReader> LayerReader::openDirectory(const std::filesystem::path& root) {
  BERTH_ASSIGN(const ArchiveLibrary* lib, archiveLibrary());
  ArchivePtr a(lib->readDiskNew(), ArchiveDeleter{lib});
  if (!a)
    return Error("libarchive: out of memory");
  lib->readDiskSetSymlinkPhysical(a.get());
  LayerReader reader(lib, std::move(a), root.string(), true);
  reader.diskRoot_ = root;
  if (lib->readDiskOpen(reader.archive_.get(), root.c_str()) != ARCHIVE_OK)
    return reader.archiveError(fmt::format("open directory `{}`", root.string()));
  return reader;
}

Result<std::optional<LayerEntry>> LayerReader::next() {
  struct archive* a = archive_.get();
  struct archive_entry* e = nullptr;
  int rc = lib_->readNextHeader(a, &e);
  if (rc == ARCHIVE_EOF) {
    if (verifier_)
      BERTH_TRY(finishVerification());
    return std::optional<LayerEntry>();
  }
  if (rc < ARCHIVE_WARN)
    return streamError(fmt::format("read layer `{}`", name_));
  if (disk_)
    lib_->readDiskDescend(a);

  LayerEntry entry;
  const char* rawPath = lib_->entryPathname(e);
  std::string_view path = rawPath ? rawPath : "";
  if (disk_) {
    // The disk reader reports ROOT/sub/path; the image wants sub/path.
    std::string_view root = name_;
    if (path.substr(0, root.size()) == root)
      path.remove_prefix(root.size());
  }
  auto normalized = normalizeLayerPath(path);
  if (!rawPath) {
    entry.rejected = "path is not valid in the current locale";
  } else if (!normalized.ok()) {
    entry.path = std::string(path);
    entry.rejected = normalized.error().message();
  } else {
    entry.path = std::move(normalized).value();
  }

  const char* hardlink = lib_->entryHardlink(e);
  if (hardlink != nullptr && !disk_) {
    entry.type = EntryType::kHardlink;
    auto target = normalizeLayerPath(hardlink);
    if (!target.ok() || target->empty()) {
      if (entry.rejected.empty())
        entry.rejected = fmt::format("hard link target `{}` is not inside the image", hardlink);
    } else {
      entry.linkTarget = std::move(target).value();
    }
  } else {
    entry.type = entryTypeFromMode(lib_->entryFiletype(e));
  }
  if (entry.type == EntryType::kSymlink) {
    const char* target = lib_->entrySymlink(e);
    entry.linkTarget = target ? target : "";
    if (entry.linkTarget.empty() && entry.rejected.empty())
      entry.rejected = "symlink without a target";
    if (entry.linkTarget.size() > kMaxPathLength && entry.rejected.empty())
      entry.rejected = "symlink target is too long";
  }
  entry.mode = lib_->entryPerm(e) & 07777;
  entry.uid = static_cast<uint32_t>(lib_->entryUid(e));
  entry.gid = static_cast<uint32_t>(lib_->entryGid(e));
  entry.mtime = lib_->entryMtimeIsSet(e) ? lib_->entryMtime(e) : 0;
  entry.size = entry.type == EntryType::kRegular ? lib_->entrySize(e) : 0;
  if (entry.type == EntryType::kCharDevice || entry.type == EntryType::kBlockDevice) {
    entry.devMajor = static_cast<uint32_t>(lib_->entryRdevmajor(e));
    entry.devMinor = static_cast<uint32_t>(lib_->entryRdevminor(e));
  }
  lib_->entryXattrReset(e);
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (lib_->entryXattrNext(e, &name, &value, &size) == ARCHIVE_OK) {
    if (name == nullptr)
      continue;
    // pax archives may carry one xattr twice (LIBARCHIVE.xattr. and SCHILY.xattr.): last wins.
    std::string_view key = name;
    std::string data(static_cast<const char*>(value), size);
    auto same = std::find_if(entry.xattrs.begin(), entry.xattrs.end(),
                             [&](const auto& kv) { return kv.first == key; });
    if (same != entry.xattrs.end())
      same->second = std::move(data);
    else
      entry.xattrs.emplace_back(std::string(key), std::move(data));
  }
  return std::optional<LayerEntry>(std::move(entry));
}

Result<size_t> LayerReader::read(void* buffer, size_t size) {
  la_ssize_t n = lib_->readData(archive_.get(), buffer, size);
  if (n < 0)
    return streamError(fmt::format("read data from layer `{}`", name_));
  return static_cast<size_t>(n);
}

}  // namespace berth::convert
