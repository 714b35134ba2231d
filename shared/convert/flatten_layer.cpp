#include "shared/convert/flatten_layer.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir_reader.h>
#include <sqfs/error.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>
#include <sqfs/xattr.h>
#include <sqfs/xattr_reader.h>

#include "shared/convert/archive_library.hpp"
#include "shared/convert/squashfs_internal.hpp"

namespace berth::convert {
namespace {

namespace fs = std::filesystem;

constexpr size_t kReadBuffer = 1 << 20;
constexpr sqfs_u32 kNoXattr = 0xFFFFFFFF;
// Overlay and OCI whiteouts: a layer entry with such a name deletes something on pull.
constexpr std::string_view kWhiteoutPrefix = ".wh.";

struct SqfsFree {
  void operator()(void* pointer) const { sqfs_free(pointer); }
};
struct TreeFree {
  void operator()(sqfs_tree_node_t* root) const { sqfs_dir_tree_destroy(root); }
};

// The open squashfs: what reading its tree, file data and xattrs takes.
struct SquashfsImage {
  SqfsPtr<sqfs_file_t> file;
  sqfs_super_t super{};
  SqfsPtr<sqfs_compressor_t> compressor;
  SqfsPtr<sqfs_id_table_t> ids;
  SqfsPtr<sqfs_dir_reader_t> dirs;
  SqfsPtr<sqfs_data_reader_t> data;
  SqfsPtr<sqfs_xattr_reader_t> xattrs;  // null when the image has none
  std::unique_ptr<sqfs_tree_node_t, TreeFree> root;
};

Result<SquashfsImage> openSquashfs(const fs::path& path) {
  std::string where = fmt::format("read image `{}`", path.string());
  SquashfsImage image;
  image.file.reset(sqfs_open_file(path.c_str(), SQFS_FILE_OPEN_READ_ONLY));
  if (!image.file)
    return errnoError(fmt::format("open image `{}`", path.string()));
  if (int rc = sqfs_super_read(&image.super, image.file.get()); rc != 0)
    return sqfsError(rc, fmt::format("`{}`: not a squashfs image", path.string()));
  sqfs_compressor_config_t config;
  if (int rc = sqfs_compressor_config_init(&config,
                                           static_cast<SQFS_COMPRESSOR>(image.super.compression_id),
                                           image.super.block_size, SQFS_COMP_FLAG_UNCOMPRESS);
      rc != 0)
    return sqfsError(rc, where);
  sqfs_compressor_t* compressor = nullptr;
  if (int rc = sqfs_compressor_create(&config, &compressor); rc != 0)
    return sqfsError(rc, where);
  image.compressor.reset(compressor);
  image.ids.reset(sqfs_id_table_create(0));
  if (!image.ids)
    return Error("out of memory", ENOMEM);
  if (int rc = sqfs_id_table_read(image.ids.get(), image.file.get(), &image.super,
                                  image.compressor.get());
      rc != 0)
    return sqfsError(rc, fmt::format("{}: id table", where));
  image.dirs.reset(
      sqfs_dir_reader_create(&image.super, image.compressor.get(), image.file.get(), 0));
  image.data.reset(
      sqfs_data_reader_create(image.file.get(), image.super.block_size, image.compressor.get(), 0));
  if (!image.dirs || !image.data)
    return Error("out of memory", ENOMEM);
  if (int rc = sqfs_data_reader_load_fragment_table(image.data.get(), &image.super); rc != 0)
    return sqfsError(rc, fmt::format("{}: fragment table", where));
  if (!(image.super.flags & SQFS_FLAG_NO_XATTRS) && image.super.xattr_id_table_start != ~0ull) {
    image.xattrs.reset(sqfs_xattr_reader_create(0));
    if (!image.xattrs)
      return Error("out of memory", ENOMEM);
    if (int rc = sqfs_xattr_reader_load(image.xattrs.get(), &image.super, image.file.get(),
                                        image.compressor.get());
        rc != 0)
      return sqfsError(rc, fmt::format("{}: xattr table", where));
  }
  sqfs_tree_node_t* root = nullptr;
  if (int rc =
          sqfs_dir_reader_get_full_hierarchy(image.dirs.get(), image.ids.get(), nullptr, 0, &root);
      rc != 0)
    return sqfsError(rc, fmt::format("{}: directory tree", where));
  image.root.reset(root);
  return image;
}

bool isDirectory(const sqfs_inode_generic_t& inode) {
  return inode.base.type == SQFS_INODE_DIR || inode.base.type == SQFS_INODE_EXT_DIR;
}

// The libarchive tar writer, feeding the compressor.
class TarWriter {
 public:
  static Result<TarWriter> create(LayerCompressor& compressor) {
    BERTH_ASSIGN(const ArchiveLibrary* lib, archiveLibrary());
    TarWriter writer(lib, compressor);
    writer.archive_.reset(lib->writeNew());
    writer.entry_.reset(lib->entryNew());
    if (!writer.archive_ || !writer.entry_)
      return Error("libarchive: out of memory", ENOMEM);
    struct archive* a = writer.archive_.get();
    // Blocks of 64 KiB to the compressor; the stream ends right after the two zero blocks of
    // the end-of-archive marker (no padding to a block).
    if (lib->writeSetFormatPaxRestricted(a) != ARCHIVE_OK ||
        lib->writeSetBytesPerBlock(a, 64 << 10) != ARCHIVE_OK ||
        lib->writeSetBytesInLastBlock(a, 1) != ARCHIVE_OK)
      return archiveErrorOf(*lib, a, "libarchive");
    return writer;
  }

  // After the object has its final address (the callback keeps `this`).
  Status open() {
    if (lib_->writeOpen2(archive_.get(), this, nullptr, &TarWriter::onWrite, nullptr, nullptr) !=
        ARCHIVE_OK)
      return failure("start the tar stream");
    return okStatus();
  }

  struct archive_entry* entry() {
    lib_->entryClear(entry_.get());
    return entry_.get();
  }
  const ArchiveLibrary& lib() const { return *lib_; }

  Status header(std::string_view path) {
    if (lib_->writeHeader(archive_.get(), entry_.get()) != ARCHIVE_OK)
      return failure(fmt::format("tar entry `{}`", path));
    return okStatus();
  }

  Status data(const char* bytes, size_t size) {
    while (size > 0) {
      la_ssize_t n = lib_->writeData(archive_.get(), bytes, size);
      if (n <= 0)
        return failure("tar data");
      bytes += n;
      size -= static_cast<size_t>(n);
    }
    return okStatus();
  }

  Status close() {
    if (lib_->writeClose(archive_.get()) != ARCHIVE_OK)
      return failure("end the tar stream");
    return okStatus();
  }

 private:
  struct ArchiveFree {
    const ArchiveLibrary* lib;
    void operator()(struct archive* a) const { lib->writeFree(a); }
  };
  struct EntryFree {
    const ArchiveLibrary* lib;
    void operator()(struct archive_entry* e) const { lib->entryFree(e); }
  };

  TarWriter(const ArchiveLibrary* lib, LayerCompressor& compressor)
      : lib_(lib), compressor_(&compressor), archive_(nullptr, {lib}), entry_(nullptr, {lib}) {}

  static la_ssize_t onWrite(struct archive*, void* self, const void* buffer, size_t length) {
    auto* writer = static_cast<TarWriter*>(self);
    Status written =
        writer->compressor_->write(std::string_view(static_cast<const char*>(buffer), length));
    if (!written.ok()) {
      writer->error_ = std::move(written).error();
      return -1;
    }
    return static_cast<la_ssize_t>(length);
  }

  // The compressor's error when it caused the failure, else libarchive's.
  Error failure(std::string_view what) {
    if (error_)
      return *error_;
    return archiveErrorOf(*lib_, archive_.get(), what);
  }

  const ArchiveLibrary* lib_;
  LayerCompressor* compressor_;
  std::unique_ptr<struct archive, ArchiveFree> archive_;
  std::unique_ptr<struct archive_entry, EntryFree> entry_;
  std::optional<Error> error_;
};

// Walks the squashfs tree in tar order and writes each entry.
class Flattener {
 public:
  Flattener(SquashfsImage& image, TarWriter& tar, const FlattenOptions& options, const Logger& log)
      : image_(image), tar_(tar), options_(options), log_(log), buffer_(kReadBuffer) {}

  Status run() { return visit(*image_.root, ""); }
  const FlattenStats& stats() const { return stats_; }

 private:
  Status visit(const sqfs_tree_node_t& node, const std::string& path) {
    BERTH_TRY(write(node, path));
    for (const sqfs_tree_node_t* child = node.children; child != nullptr; child = child->next) {
      std::string name = reinterpret_cast<const char*>(child->name);
      std::string childPath = path.empty() ? name : path + "/" + name;
      if (std::find(options_.exclude.begin(), options_.exclude.end(), childPath) !=
          options_.exclude.end())
        continue;
      if (name.starts_with(kWhiteoutPrefix)) {
        ++stats_.skipped;
        log_.warning("`/{}` left out: a layer entry named `{}...` deletes files on pull", childPath,
                     kWhiteoutPrefix);
        continue;
      }
      BERTH_TRY(visit(*child, childPath));
    }
    return okStatus();
  }

  Status write(const sqfs_tree_node_t& node, const std::string& path) {
    const sqfs_inode_generic_t& inode = *node.inode;
    const ArchiveLibrary& lib = tar_.lib();
    struct archive_entry* e = tar_.entry();
    std::string name = path.empty() ? "./" : path;
    bool directory = isDirectory(inode);
    if (directory && !path.empty())
      name += '/';
    lib.entryCopyPathname(e, name.c_str());
    lib.entrySetPerm(e, inode.base.mode & 07777);
    lib.entrySetUid(e, node.uid);
    lib.entrySetGid(e, node.gid);
    lib.entrySetMtime(e, inode.base.mod_time, 0);

    // A later name of an inode already written: a hard link to its first name.
    if (!directory) {
      auto [first, inserted] = firstNames_.try_emplace(inode.base.inode_number, path);
      if (!inserted) {
        lib.entrySetFiletype(e, AE_IFREG);
        lib.entryCopyHardlink(e, first->second.c_str());
        lib.entrySetSize(e, 0);
        ++stats_.hardLinks;
        ++stats_.entries;
        return tar_.header(path);
      }
    }
    BERTH_TRY(addXattrs(e, inode, path));
    sqfs_u64 size = 0;
    switch (inode.base.type) {
      case SQFS_INODE_DIR:
      case SQFS_INODE_EXT_DIR:
        lib.entrySetFiletype(e, AE_IFDIR);
        break;
      case SQFS_INODE_FILE:
      case SQFS_INODE_EXT_FILE:
        lib.entrySetFiletype(e, AE_IFREG);
        sqfs_inode_get_file_size(&inode, &size);
        lib.entrySetSize(e, static_cast<la_int64_t>(size));
        break;
      case SQFS_INODE_SLINK:
      case SQFS_INODE_EXT_SLINK: {
        sqfs_u32 length = inode.base.type == SQFS_INODE_SLINK ? inode.data.slink.target_size
                                                              : inode.data.slink_ext.target_size;
        std::string target(reinterpret_cast<const char*>(inode.extra), length);
        lib.entrySetFiletype(e, AE_IFLNK);
        lib.entryCopySymlink(e, target.c_str());
        break;
      }
      case SQFS_INODE_CDEV:
      case SQFS_INODE_BDEV:
      case SQFS_INODE_EXT_CDEV:
      case SQFS_INODE_EXT_BDEV: {
        bool basic = inode.base.type == SQFS_INODE_CDEV || inode.base.type == SQFS_INODE_BDEV;
        sqfs_u32 devno = basic ? inode.data.dev.devno : inode.data.dev_ext.devno;
        bool character =
            inode.base.type == SQFS_INODE_CDEV || inode.base.type == SQFS_INODE_EXT_CDEV;
        lib.entrySetFiletype(e, character ? AE_IFCHR : AE_IFBLK);
        // The kernel's new_decode_dev().
        lib.entrySetRdevmajor(e, (devno & 0xfff00) >> 8);
        lib.entrySetRdevminor(e, (devno & 0xff) | ((devno >> 12) & 0xfff00));
        break;
      }
      case SQFS_INODE_FIFO:
      case SQFS_INODE_EXT_FIFO:
        lib.entrySetFiletype(e, AE_IFIFO);
        break;
      default:
        ++stats_.skipped;
        log_.verbose("`/{}` left out: a tar layer cannot hold a socket", path);
        return okStatus();
    }
    ++stats_.entries;
    BERTH_TRY(tar_.header(path));
    for (sqfs_u64 offset = 0; offset < size;) {
      sqfs_u32 want = static_cast<sqfs_u32>(std::min<sqfs_u64>(buffer_.size(), size - offset));
      sqfs_s32 n = sqfs_data_reader_read(image_.data.get(), &inode, offset, buffer_.data(), want);
      if (n <= 0)
        return n < 0 ? sqfsError(n, fmt::format("read `/{}`", path))
                     : Error(fmt::format("read `/{}`: ends at byte {} of {}", path, offset, size));
      BERTH_TRY(tar_.data(buffer_.data(), static_cast<size_t>(n)));
      offset += static_cast<sqfs_u64>(n);
    }
    return okStatus();
  }

  Status addXattrs(struct archive_entry* e, const sqfs_inode_generic_t& inode,
                   const std::string& path) {
    sqfs_u32 index = kNoXattr;
    if (!image_.xattrs || sqfs_inode_get_xattr_index(&inode, &index) != 0 || index == kNoXattr)
      return okStatus();
    sqfs_xattr_reader_t* reader = image_.xattrs.get();
    std::string where = fmt::format("xattrs of `/{}`", path);
    sqfs_xattr_id_t desc{};
    if (int rc = sqfs_xattr_reader_get_desc(reader, index, &desc); rc != 0)
      return sqfsError(rc, where);
    if (int rc = sqfs_xattr_reader_seek_kv(reader, &desc); rc != 0)
      return sqfsError(rc, where);
    for (sqfs_u32 i = 0; i < desc.count; ++i) {
      sqfs_xattr_entry_t* rawKey = nullptr;
      if (int rc = sqfs_xattr_reader_read_key(reader, &rawKey); rc != 0)
        return sqfsError(rc, where);
      std::unique_ptr<sqfs_xattr_entry_t, SqfsFree> key(rawKey);
      sqfs_xattr_value_t* rawValue = nullptr;
      if (int rc = sqfs_xattr_reader_read_value(reader, key.get(), &rawValue); rc != 0)
        return sqfsError(rc, where);
      std::unique_ptr<sqfs_xattr_value_t, SqfsFree> value(rawValue);
      // libsquashfs 1.2 hands out the whole name, its prefix ("user.") put back in front, NUL
      // terminated (key->size counts only the part after the prefix).
      std::string name(reinterpret_cast<const char*>(key->key));
      tar_.lib().entryXattrAddEntry(e, name.c_str(), value->value, value->size);
      ++stats_.xattrs;
    }
    return okStatus();
  }

  SquashfsImage& image_;
  TarWriter& tar_;
  const FlattenOptions& options_;
  const Logger& log_;
  std::vector<char> buffer_;
  std::unordered_map<sqfs_u32, std::string> firstNames_;  // inode number -> first path
  FlattenStats stats_;
};

}  // namespace

Result<FlatLayer> flattenSquashfs(const fs::path& path, int fd, const FlattenOptions& options,
                                  const Logger& log) {
  std::string where = fmt::format("flatten `{}`", path.string());
  BERTH_ASSIGN(SquashfsImage image, openSquashfs(path).withContext(where));
  BERTH_ASSIGN(std::unique_ptr<LayerCompressor> compressor,
               LayerCompressor::create(options.compress, fd).withContext(where));
  BERTH_ASSIGN(TarWriter tar, TarWriter::create(*compressor).withContext(where));
  BERTH_TRY(tar.open().withContext(where));
  Flattener flattener(image, tar, options, log);
  BERTH_TRY(flattener.run().withContext(where));
  BERTH_TRY(tar.close().withContext(where));
  BERTH_ASSIGN(CompressedLayer blob, compressor->finish().withContext(where));
  return FlatLayer{std::move(blob), flattener.stats()};
}

}  // namespace berth::convert
