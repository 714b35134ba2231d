#include "shared/build/layer_writer.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <map>

#include "shared/build/write_libraries.hpp"
#include "shared/core/scope_exit.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/image/digest.hpp"

namespace berth::build {
namespace {

constexpr size_t kChunk = 1 << 16;
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
// overlayfs's own attributes: its bookkeeping, never the image's (as root, and with userxattr).
constexpr std::array<std::string_view, 2> kOverlayXattrPrefixes = {"trusted.overlay.",
                                                                   "user.overlay."};
constexpr std::array<const char*, 2> kOpaqueXattrs = {"trusted.overlay.opaque",
                                                      "user.overlay.opaque"};

bool isOverlayXattr(std::string_view name) {
  return std::any_of(kOverlayXattrPrefixes.begin(), kOverlayXattrPrefixes.end(),
                     [&](std::string_view prefix) { return name.starts_with(prefix); });
}

bool isWhiteoutDevice(const struct stat& st) {
  return S_ISCHR(st.st_mode) && major(st.st_rdev) == 0 && minor(st.st_rdev) == 0;
}

bool isOpaque(const std::string& path) {
  for (const char* name : kOpaqueXattrs) {
    char value[2] = {};
    ssize_t n = ::lgetxattr(path.c_str(), name, value, sizeof(value));
    if (n == 1 && value[0] == 'y')
      return true;
  }
  return false;
}

// The extended attributes of `path` (not followed), less overlay's; sorted by name.
Result<std::vector<std::pair<std::string, std::string>>> readXattrs(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> out;
  ssize_t size = ::llistxattr(path.c_str(), nullptr, 0);
  if (size < 0) {
    if (errno == ENOTSUP)
      return out;
    return errnoError(fmt::format("list extended attributes of `{}`", path));
  }
  std::string names(static_cast<size_t>(size), '\0');
  size = ::llistxattr(path.c_str(), names.data(), names.size());
  if (size < 0)
    return errnoError(fmt::format("list extended attributes of `{}`", path));
  names.resize(static_cast<size_t>(size));
  for (size_t start = 0; start < names.size();) {
    std::string name(names.c_str() + start);
    start += name.size() + 1;
    if (name.empty() || isOverlayXattr(name))
      continue;
    ssize_t length = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (length < 0)
      return errnoError(fmt::format("read extended attribute {} of `{}`", name, path));
    std::string value(static_cast<size_t>(length), '\0');
    length = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (length < 0)
      return errnoError(fmt::format("read extended attribute {} of `{}`", name, path));
    value.resize(static_cast<size_t>(length));
    out.emplace_back(std::move(name), std::move(value));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<std::string>> sortedNames(const std::string& dir) {
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr)
    return errnoError(fmt::format("open directory `{}`", dir));
  ScopeExit closeDir([&] { ::closedir(handle); });
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* entry = ::readdir(handle)) {
    std::string_view name = entry->d_name;
    if (name != "." && name != "..")
      names.emplace_back(name);
  }
  if (errno != 0)
    return errnoError(fmt::format("read directory `{}`", dir));
  std::sort(names.begin(), names.end());
  return names;
}

// The uncompressed tar stream in: its digest (diff id) and, deflated, the blob (file, digest).
class GzipSink {
 public:
  GzipSink(const ZlibLibrary& zlib, image::Sha256Hasher diff, image::Sha256Hasher blob)
      : zlib_(zlib), diff_(std::move(diff)), blob_(std::move(blob)) {}
  GzipSink(const GzipSink&) = delete;  // z_stream points back at itself: never moved
  GzipSink& operator=(const GzipSink&) = delete;
  ~GzipSink() {
    if (initialised_)
      zlib_.endDeflate(&stream_);
  }

  Status open(const std::filesystem::path& output, int level) {
    fd_.reset(::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd_)
      return errnoError(fmt::format("create `{}`", output.string()));
    // windowBits 15 + 16: a gzip wrapper; zlib writes no name and a zero time in its header.
    if (zlib_.initDeflate(&stream_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                          static_cast<int>(sizeof(z_stream))) != Z_OK)
      return Error("zlib: cannot start a gzip stream");
    initialised_ = true;
    return okStatus();
  }

  Status write(const char* data, size_t size) {
    diff_.update(std::string_view(data, size));
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    stream_.avail_in = static_cast<uInt>(size);
    return pump(Z_NO_FLUSH);
  }

  Status finish() { return pump(Z_FINISH); }

  void results(LayerBlob& out) {
    out.diffId = diff_.finish();
    out.digest = blob_.finish();
    out.size = written_;
  }

 private:
  Status pump(int flush) {
    std::array<char, kChunk> buffer{};
    while (true) {
      stream_.next_out = reinterpret_cast<Bytef*>(buffer.data());
      stream_.avail_out = static_cast<uInt>(buffer.size());
      int rc = zlib_.deflate(&stream_, flush);
      if (rc == Z_STREAM_ERROR)
        return Error("zlib: deflate failed");
      size_t produced = buffer.size() - stream_.avail_out;
      blob_.update(std::string_view(buffer.data(), produced));
      for (size_t done = 0; done < produced;) {
        ssize_t n = ::write(fd_.get(), buffer.data() + done, produced - done);
        if (n < 0 && errno == EINTR)
          continue;
        if (n < 0)
          return errnoError("write layer");
        done += static_cast<size_t>(n);
      }
      written_ += static_cast<int64_t>(produced);
      if (flush == Z_FINISH ? rc == Z_STREAM_END : stream_.avail_in == 0 && stream_.avail_out != 0)
        return okStatus();
    }
  }

  const ZlibLibrary& zlib_;
  image::Sha256Hasher diff_;
  image::Sha256Hasher blob_;
  z_stream stream_{};
  bool initialised_ = false;
  UniqueFd fd_;
  int64_t written_ = 0;
};

class LayerWriter {
 public:
  LayerWriter(const ArchiveWriteLibrary& lib, GzipSink& sink, const std::filesystem::path& upper,
              const LayerWriteOptions& options)
      : lib_(lib), sink_(sink), upper_(upper.string()), options_(options) {}
  ~LayerWriter() {
    if (a_ != nullptr)
      lib_.writeFree(a_);
  }
  LayerWriter(const LayerWriter&) = delete;
  LayerWriter& operator=(const LayerWriter&) = delete;

  Result<int64_t> run() {
    a_ = lib_.writeNew();
    if (a_ == nullptr)
      return Error("libarchive: cannot allocate a writer");
    if (lib_.setFormatPaxRestricted(a_) != ARCHIVE_OK || lib_.addFilterNone(a_) != ARCHIVE_OK ||
        lib_.setBytesPerBlock(a_, 10240) != ARCHIVE_OK ||
        lib_.setBytesInLastBlock(a_, 1) != ARCHIVE_OK ||
        lib_.open(a_, this, nullptr, &LayerWriter::writeCallback, nullptr) != ARCHIVE_OK)
      return archiveWriteErrorOf(lib_, a_, "start the layer");
    BERTH_TRY(directory(""));
    if (lib_.close(a_) != ARCHIVE_OK)
      return sinkError_ ? std::move(*sinkError_)
                        : archiveWriteErrorOf(lib_, a_, "finish the layer");
    return entries_;
  }

 private:
  static la_ssize_t writeCallback(struct archive*, void* self, const void* data, size_t size) {
    auto* writer = static_cast<LayerWriter*>(self);
    Status status = writer->sink_.write(static_cast<const char*>(data), size);
    if (!status.ok()) {
      writer->sinkError_ = std::move(status).error();
      return -1;
    }
    return static_cast<la_ssize_t>(size);
  }

  std::string full(const std::string& rel) const {
    return rel.empty() ? upper_ : upper_ + "/" + rel;
  }
  static std::string join(const std::string& dir, std::string_view name) {
    return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
  }

  int64_t clampTime(int64_t mtime) const {
    if (options_.sourceDateEpoch && mtime > *options_.sourceDateEpoch)
      return *options_.sourceDateEpoch;
    return mtime;
  }

  // The directory `rel` ("" = the upper root): its markers, then its children in name order.
  Status directory(const std::string& rel) {
    std::string path = full(rel);
    struct stat dirStat {};
    if (::lstat(path.c_str(), &dirStat) != 0)
      return errnoError(fmt::format("stat `{}`", path));
    if (isOpaque(path))
      BERTH_TRY(marker(join(rel, kOpaqueMarker), dirStat));
    BERTH_ASSIGN(std::vector<std::string> names, sortedNames(path));
    std::vector<std::pair<std::string, struct stat>> others;
    for (const std::string& name : names) {
      struct stat st {};
      if (::lstat(full(join(rel, name)).c_str(), &st) != 0)
        return errnoError(fmt::format("stat `{}`", full(join(rel, name))));
      if (name.starts_with(kWhiteoutPrefix))
        return Error(fmt::format("`/{}`: a name starting with {} cannot be stored in an OCI layer",
                                 join(rel, name), kWhiteoutPrefix));
      if (isWhiteoutDevice(st))
        BERTH_TRY(marker(join(rel, std::string(kWhiteoutPrefix) + name), st));
      else
        others.emplace_back(name, st);
    }
    for (const auto& [name, st] : others) {
      std::string child = join(rel, name);
      BERTH_TRY(entry(child, st));
      if (S_ISDIR(st.st_mode))
        BERTH_TRY(directory(child));
    }
    return okStatus();
  }

  // An empty file standing for a deletion (.wh.NAME) or an opaque directory.
  Status marker(const std::string& rel, const struct stat& st) {
    struct archive_entry* e = lib_.entryNew();
    ScopeExit free([&] { lib_.entryFree(e); });
    lib_.entrySetPathname(e, rel.c_str());
    lib_.entrySetFiletype(e, AE_IFREG);
    lib_.entrySetPerm(e, 0);
    lib_.entrySetSize(e, 0);
    lib_.entrySetMtime(e, clampTime(st.st_mtim.tv_sec), 0);
    return header(e, rel);
  }

  Status header(struct archive_entry* e, const std::string& rel) {
    if (lib_.writeHeader(a_, e) != ARCHIVE_OK)
      return sinkError_ ? *sinkError_ : archiveWriteErrorOf(lib_, a_, fmt::format("`/{}`", rel));
    ++entries_;
    return okStatus();
  }

  Status entry(const std::string& rel, const struct stat& st) {
    if (S_ISSOCK(st.st_mode))
      return okStatus();  // a socket cannot be stored in tar (Docker leaves them out too)
    std::string path = full(rel);
    std::optional<uint32_t> uid = mapIdBack(options_.uidMap, st.st_uid);
    std::optional<uint32_t> gid = mapIdBack(options_.gidMap, st.st_gid);
    if (!uid || !gid)
      return Error(
          fmt::format("`/{}` is owned by {}:{} on the host, which the build's id map does "
                      "not cover",
                      rel, st.st_uid, st.st_gid));
    struct archive_entry* e = lib_.entryNew();
    ScopeExit free([&] { lib_.entryFree(e); });
    lib_.entrySetPathname(e, rel.c_str());
    lib_.entrySetPerm(e, st.st_mode & 07777);
    lib_.entrySetUid(e, *uid);
    lib_.entrySetGid(e, *gid);
    lib_.entrySetMtime(e, clampTime(st.st_mtim.tv_sec), 0);
    BERTH_ASSIGN(auto xattrs, readXattrs(path));
    for (const auto& [name, value] : xattrs)
      lib_.entryXattrAddEntry(e, name.c_str(), value.data(), value.size());

    bool data = false;
    switch (st.st_mode & S_IFMT) {
      case S_IFREG: {
        lib_.entrySetFiletype(e, AE_IFREG);
        if (st.st_nlink > 1) {
          auto [it, first] = links_.emplace(std::make_pair(st.st_dev, st.st_ino), rel);
          if (!first) {
            lib_.entrySetHardlink(e, it->second.c_str());
            lib_.entrySetSize(e, 0);
            return header(e, rel);
          }
        }
        lib_.entrySetSize(e, st.st_size);
        data = true;
        break;
      }
      case S_IFDIR:
        lib_.entrySetFiletype(e, AE_IFDIR);
        break;
      case S_IFLNK: {
        std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
        ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
        if (n < 0)
          return errnoError(fmt::format("readlink `{}`", path));
        target.resize(static_cast<size_t>(n));
        lib_.entrySetFiletype(e, AE_IFLNK);
        lib_.entrySetSymlink(e, target.c_str());
        break;
      }
      case S_IFCHR:
      case S_IFBLK:
        lib_.entrySetFiletype(e, S_ISCHR(st.st_mode) ? AE_IFCHR : AE_IFBLK);
        lib_.entrySetRdevmajor(e, major(st.st_rdev));
        lib_.entrySetRdevminor(e, minor(st.st_rdev));
        break;
      case S_IFIFO:
        lib_.entrySetFiletype(e, AE_IFIFO);
        break;
      default:
        return Error(fmt::format("`/{}`: a file type tar cannot hold", rel));
    }
    BERTH_TRY(header(e, rel));
    return data ? fileData(path, st.st_size) : okStatus();
  }

  Status fileData(const std::string& path, int64_t size) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd)
      return errnoError(fmt::format("open `{}`", path));
    std::array<char, kChunk> buffer{};
    int64_t left = size;
    while (left > 0) {
      ssize_t n = ::read(fd.get(), buffer.data(),
                         static_cast<size_t>(std::min<int64_t>(left, buffer.size())));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return errnoError(fmt::format("read `{}`", path));
      if (n == 0)
        return Error(fmt::format("`{}` shrank while it was written to the layer", path));
      if (lib_.writeData(a_, buffer.data(), static_cast<size_t>(n)) < 0)
        return sinkError_ ? *sinkError_ : archiveWriteErrorOf(lib_, a_, path);
      left -= n;
    }
    return okStatus();
  }

  const ArchiveWriteLibrary& lib_;
  GzipSink& sink_;
  std::string upper_;
  const LayerWriteOptions& options_;
  struct archive* a_ = nullptr;
  std::optional<Error> sinkError_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;  // first path of each linked inode
  int64_t entries_ = 0;
};

}  // namespace

std::optional<uint32_t> mapIdBack(const std::vector<IdMapRange>& map, uint32_t hostId) {
  if (map.empty())
    return hostId;
  for (const IdMapRange& range : map)
    if (hostId >= range.outside && hostId - range.outside < range.count)
      return range.inside + (hostId - range.outside);
  return std::nullopt;
}

Result<LayerBlob> writeLayerFromUpper(const std::filesystem::path& upper,
                                      const std::filesystem::path& output,
                                      const LayerWriteOptions& options) {
  BERTH_ASSIGN(const ArchiveWriteLibrary* archive, archiveWriteLibrary());
  BERTH_ASSIGN(const ZlibLibrary* zlib, zlibLibrary());
  BERTH_ASSIGN(image::Sha256Hasher diff, image::Sha256Hasher::create());
  BERTH_ASSIGN(image::Sha256Hasher blob, image::Sha256Hasher::create());
  GzipSink sink(*zlib, std::move(diff), std::move(blob));
  BERTH_TRY(sink.open(output, options.gzipLevel));
  LayerWriter writer(*archive, sink, upper, options);
  LayerBlob result;
  BERTH_ASSIGN(result.entries,
               writer.run().withContext(fmt::format("layer from `{}`", upper.string())));
  BERTH_TRY(sink.finish());
  sink.results(result);
  return result;
}

}  // namespace berth::build
