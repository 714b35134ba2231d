#include "shared/convert/image_files.hpp"

#include <endian.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include <fmt/format.h>
#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir_reader.h>
#include <sqfs/error.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>

#include "shared/sys/resolve.hpp"

namespace berth::convert {
namespace {

// Owners for libsquashfs objects (all destroyed through sqfs_destroy; inodes with sqfs_free).
struct SqfsDestroy {
  void operator()(void* object) const { sqfs_destroy(object); }
};
template <typename T>
using SqfsPtr = std::unique_ptr<T, SqfsDestroy>;
struct SqfsFree {
  void operator()(void* pointer) const { sqfs_free(pointer); }
};

Result<std::optional<std::string>> readSquashfsFile(const std::string& image, std::string_view path,
                                                    size_t limit) {
  auto fail = [&](std::string_view what, int code) {
    return Error(fmt::format("read `{}` from image `{}`: {} (libsquashfs error {})", path, image,
                             what, code));
  };
  SqfsPtr<sqfs_file_t> file(sqfs_open_file(image.c_str(), SQFS_FILE_OPEN_READ_ONLY));
  if (!file)
    return errnoError(fmt::format("open image `{}`", image));
  sqfs_super_t super;
  if (int rc = sqfs_super_read(&super, file.get()); rc != 0)
    return fail("corrupt or not a squashfs image", rc);
  sqfs_compressor_config_t config;
  if (int rc =
          sqfs_compressor_config_init(&config, static_cast<SQFS_COMPRESSOR>(super.compression_id),
                                      super.block_size, SQFS_COMP_FLAG_UNCOMPRESS);
      rc != 0)
    return fail("unsupported compressor", rc);
  sqfs_compressor_t* rawCompressor = nullptr;
  if (int rc = sqfs_compressor_create(&config, &rawCompressor); rc != 0)
    return fail("unsupported compressor", rc);
  SqfsPtr<sqfs_compressor_t> compressor(rawCompressor);
  SqfsPtr<sqfs_dir_reader_t> dirs(sqfs_dir_reader_create(&super, compressor.get(), file.get(), 0));
  if (!dirs)
    return Error("out of memory");
  sqfs_inode_generic_t* rawInode = nullptr;
  std::string relative(path.substr(path.find_first_not_of('/')));
  int rc = sqfs_dir_reader_find_by_path(dirs.get(), nullptr, relative.c_str(), &rawInode);
  if (rc == SQFS_ERROR_NO_ENTRY)
    return std::optional<std::string>();
  if (rc != 0)
    return fail("cannot look it up", rc);
  std::unique_ptr<sqfs_inode_generic_t, SqfsFree> inode(rawInode);
  if (inode->base.type != SQFS_INODE_FILE && inode->base.type != SQFS_INODE_EXT_FILE)
    return Error(fmt::format("`{}` in image `{}` is not a regular file", path, image));
  sqfs_u64 size = 0;
  sqfs_inode_get_file_size(inode.get(), &size);
  if (size > limit)
    return Error(fmt::format("`{}` in image `{}` is larger than {} bytes", path, image, limit));
  SqfsPtr<sqfs_data_reader_t> data(
      sqfs_data_reader_create(file.get(), super.block_size, compressor.get(), 0));
  if (!data)
    return Error("out of memory");
  if (int frc = sqfs_data_reader_load_fragment_table(data.get(), &super); frc != 0)
    return fail("cannot read the fragment table", frc);
  std::string content(size, '\0');
  sqfs_s32 read = sqfs_data_reader_read(data.get(), inode.get(), 0, content.data(),
                                        static_cast<sqfs_u32>(size));
  if (read < 0 || static_cast<sqfs_u64>(read) != size)
    return fail("cannot read the data", read);
  return std::optional<std::string>(std::move(content));
}

}  // namespace

Status checkSquashfsImage(int imageFd, const std::filesystem::path& path) {
  sqfs_super_t super{};
  struct stat st {};
  if (::fstat(imageFd, &st) != 0)
    return errnoError(fmt::format("stat image `{}`", path.string()));
  ssize_t n = ::pread(imageFd, &super, sizeof super, 0);
  if (n < 0)
    return errnoError(fmt::format("read image `{}`", path.string()));
  uint64_t used = le64toh(super.bytes_used);
  bool valid = static_cast<size_t>(n) == sizeof super && le32toh(super.magic) == SQFS_MAGIC &&
               le16toh(super.version_major) == SQFS_VERSION_MAJOR &&
               le16toh(super.version_minor) == SQFS_VERSION_MINOR && used >= sizeof super &&
               used <= static_cast<uint64_t>(st.st_size);
  // Every table the kernel reads at mount time starts inside the used bytes.
  for (uint64_t start :
       {super.id_table_start, super.inode_table_start, super.directory_table_start})
    valid = valid && le64toh(start) < used;
  if (!valid)
    return Error(fmt::format("`{}` is {}", path.string(), kNotSquashfsImage));
  return okStatus();
}

Result<std::optional<std::string>> readImageFile(const container::ImageLocation& image,
                                                 std::string_view path, size_t limit) {
  if (image.kind == container::ImageKind::kSquashfs)
    return readSquashfsFile(image.path.string(), path, limit);
  UniqueFd root(::open(image.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root)
    return errnoError(fmt::format("open image `{}`", image.path.string()));
  BERTH_ASSIGN(UniqueFd probe, [&]() -> Result<UniqueFd> {
    auto fd = sys::openInRoot(root.get(), path, O_PATH | O_NOFOLLOW);
    if (!fd.ok() && fd.error().errnum() == ENOENT)
      return UniqueFd();
    return fd;
  }());
  if (!probe)
    return std::optional<std::string>();
  struct stat st {};
  if (::fstat(probe.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return Error(
        fmt::format("`{}` in image `{}` is not a regular file", path, image.path.string()));
  BERTH_ASSIGN(std::string content, sys::readFileInRoot(root.get(), path, limit));
  return std::optional<std::string>(std::move(content));
}

}  // namespace berth::convert
