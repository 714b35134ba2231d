#include "shared/convert/archive_library.hpp"

#include <fmt/format.h>

#include "shared/sys/shared_library.hpp"

namespace berth::convert {
namespace {

Result<const ArchiveLibrary*> load() {
  BERTH_ASSIGN(sys::SharedLibrary library, sys::SharedLibrary::open("libarchive.so.13"));
  static ArchiveLibrary api{};
  BERTH_TRY(library.resolve("archive_read_new", api.readNew));
  BERTH_TRY(library.resolve("archive_read_disk_new", api.readDiskNew));
  BERTH_TRY(library.resolve("archive_read_free", api.readFree));
  BERTH_TRY(library.resolve("archive_read_support_format_tar", api.supportFormatTar));
  BERTH_TRY(library.resolve("archive_read_support_format_raw", api.supportFormatRaw));
  BERTH_TRY(library.resolve("archive_read_support_filter_gzip", api.supportFilterGzip));
  BERTH_TRY(library.resolve("archive_read_support_filter_zstd", api.supportFilterZstd));
  BERTH_TRY(library.resolve("archive_read_support_filter_xz", api.supportFilterXz));
  BERTH_TRY(library.resolve("archive_read_support_filter_bzip2", api.supportFilterBzip2));
  BERTH_TRY(library.resolve("archive_read_open_filename", api.readOpenFilename));
  BERTH_TRY(library.resolve("archive_read_open_memory", api.readOpenMemory));
  BERTH_TRY(library.resolve("archive_read_open", api.readOpen));
  BERTH_TRY(
      library.resolve("archive_read_disk_set_symlink_physical", api.readDiskSetSymlinkPhysical));
  BERTH_TRY(library.resolve("archive_read_disk_open", api.readDiskOpen));
  BERTH_TRY(library.resolve("archive_read_disk_descend", api.readDiskDescend));
  BERTH_TRY(library.resolve("archive_read_next_header", api.readNextHeader));
  BERTH_TRY(library.resolve("archive_read_data", api.readData));
  BERTH_TRY(library.resolve("archive_errno", api.errnoOf));
  BERTH_TRY(library.resolve("archive_error_string", api.errorString));
  BERTH_TRY(library.resolve("archive_entry_pathname", api.entryPathname));
  BERTH_TRY(library.resolve("archive_entry_hardlink", api.entryHardlink));
  BERTH_TRY(library.resolve("archive_entry_symlink", api.entrySymlink));
  BERTH_TRY(library.resolve("archive_entry_filetype", api.entryFiletype));
  BERTH_TRY(library.resolve("archive_entry_perm", api.entryPerm));
  BERTH_TRY(library.resolve("archive_entry_uid", api.entryUid));
  BERTH_TRY(library.resolve("archive_entry_gid", api.entryGid));
  BERTH_TRY(library.resolve("archive_entry_mtime_is_set", api.entryMtimeIsSet));
  BERTH_TRY(library.resolve("archive_entry_mtime", api.entryMtime));
  BERTH_TRY(library.resolve("archive_entry_size", api.entrySize));
  BERTH_TRY(library.resolve("archive_entry_rdevmajor", api.entryRdevmajor));
  BERTH_TRY(library.resolve("archive_entry_rdevminor", api.entryRdevminor));
  BERTH_TRY(library.resolve("archive_entry_xattr_reset", api.entryXattrReset));
  BERTH_TRY(library.resolve("archive_entry_xattr_next", api.entryXattrNext));
  BERTH_TRY(library.resolve("archive_write_new", api.writeNew));
  BERTH_TRY(library.resolve("archive_write_free", api.writeFree));
  BERTH_TRY(
      library.resolve("archive_write_set_format_pax_restricted", api.writeSetFormatPaxRestricted));
  BERTH_TRY(library.resolve("archive_write_set_bytes_per_block", api.writeSetBytesPerBlock));
  BERTH_TRY(library.resolve("archive_write_set_bytes_in_last_block", api.writeSetBytesInLastBlock));
  BERTH_TRY(library.resolve("archive_write_open2", api.writeOpen2));
  BERTH_TRY(library.resolve("archive_write_header", api.writeHeader));
  BERTH_TRY(library.resolve("archive_write_data", api.writeData));
  BERTH_TRY(library.resolve("archive_write_close", api.writeClose));
  BERTH_TRY(library.resolve("archive_entry_new", api.entryNew));
  BERTH_TRY(library.resolve("archive_entry_free", api.entryFree));
  BERTH_TRY(library.resolve("archive_entry_clear", api.entryClear));
  BERTH_TRY(library.resolve("archive_entry_copy_pathname", api.entryCopyPathname));
  BERTH_TRY(library.resolve("archive_entry_copy_hardlink", api.entryCopyHardlink));
  BERTH_TRY(library.resolve("archive_entry_copy_symlink", api.entryCopySymlink));
  BERTH_TRY(library.resolve("archive_entry_set_filetype", api.entrySetFiletype));
  BERTH_TRY(library.resolve("archive_entry_set_perm", api.entrySetPerm));
  BERTH_TRY(library.resolve("archive_entry_set_uid", api.entrySetUid));
  BERTH_TRY(library.resolve("archive_entry_set_gid", api.entrySetGid));
  BERTH_TRY(library.resolve("archive_entry_set_mtime", api.entrySetMtime));
  BERTH_TRY(library.resolve("archive_entry_set_size", api.entrySetSize));
  BERTH_TRY(library.resolve("archive_entry_set_rdevmajor", api.entrySetRdevmajor));
  BERTH_TRY(library.resolve("archive_entry_set_rdevminor", api.entrySetRdevminor));
  BERTH_TRY(library.resolve("archive_entry_xattr_add_entry", api.entryXattrAddEntry));
  return &api;
}

}  // namespace

Status supportLayerFilters(const ArchiveLibrary& lib, struct archive* a) {
  if (lib.supportFilterGzip(a) != ARCHIVE_OK || lib.supportFilterZstd(a) != ARCHIVE_OK ||
      lib.supportFilterXz(a) != ARCHIVE_OK || lib.supportFilterBzip2(a) != ARCHIVE_OK)
    return archiveErrorOf(lib, a, "libarchive");
  return okStatus();
}

Error archiveErrorOf(const ArchiveLibrary& lib, struct archive* a, std::string_view what) {
  const char* message = lib.errorString(a);
  return Error(fmt::format("{}: {}", what, message ? message : "unknown libarchive error"),
               lib.errnoOf(a));
}

Result<const ArchiveLibrary*> archiveLibrary() {
  // Loaded once per process (a function-local static: thread-safe initialisation).
  static const Result<const ArchiveLibrary*> loaded = load();
  return loaded;
}

}  // namespace berth::convert
