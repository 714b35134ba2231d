#include "shared/build/write_libraries.hpp"

#include <fmt/format.h>

#include "shared/sys/shared_library.hpp"

namespace berth::build {
namespace {

Result<const ArchiveWriteLibrary*> loadArchive() {
  BERTH_ASSIGN(sys::SharedLibrary library, sys::SharedLibrary::open("libarchive.so.13"));
  static ArchiveWriteLibrary api{};
  BERTH_TRY(library.resolve("archive_write_new", api.writeNew));
  BERTH_TRY(library.resolve("archive_write_free", api.writeFree));
  BERTH_TRY(library.resolve("archive_write_set_format_pax_restricted", api.setFormatPaxRestricted));
  BERTH_TRY(library.resolve("archive_write_add_filter_none", api.addFilterNone));
  BERTH_TRY(library.resolve("archive_write_set_bytes_per_block", api.setBytesPerBlock));
  BERTH_TRY(library.resolve("archive_write_set_bytes_in_last_block", api.setBytesInLastBlock));
  BERTH_TRY(library.resolve("archive_write_open", api.open));
  BERTH_TRY(library.resolve("archive_write_header", api.writeHeader));
  BERTH_TRY(library.resolve("archive_write_data", api.writeData));
  BERTH_TRY(library.resolve("archive_write_close", api.close));
  BERTH_TRY(library.resolve("archive_errno", api.errnoOf));
  BERTH_TRY(library.resolve("archive_error_string", api.errorString));
  BERTH_TRY(library.resolve("archive_entry_new", api.entryNew));
  BERTH_TRY(library.resolve("archive_entry_free", api.entryFree));
  BERTH_TRY(library.resolve("archive_entry_set_pathname", api.entrySetPathname));
  BERTH_TRY(library.resolve("archive_entry_set_filetype", api.entrySetFiletype));
  BERTH_TRY(library.resolve("archive_entry_set_perm", api.entrySetPerm));
  BERTH_TRY(library.resolve("archive_entry_set_uid", api.entrySetUid));
  BERTH_TRY(library.resolve("archive_entry_set_gid", api.entrySetGid));
  BERTH_TRY(library.resolve("archive_entry_set_mtime", api.entrySetMtime));
  BERTH_TRY(library.resolve("archive_entry_set_size", api.entrySetSize));
  BERTH_TRY(library.resolve("archive_entry_set_symlink", api.entrySetSymlink));
  BERTH_TRY(library.resolve("archive_entry_set_hardlink", api.entrySetHardlink));
  BERTH_TRY(library.resolve("archive_entry_set_rdevmajor", api.entrySetRdevmajor));
  BERTH_TRY(library.resolve("archive_entry_set_rdevminor", api.entrySetRdevminor));
  BERTH_TRY(library.resolve("archive_entry_xattr_add_entry", api.entryXattrAddEntry));
  return &api;
}

Result<const ZlibLibrary*> loadZlib() {
  BERTH_ASSIGN(sys::SharedLibrary library, sys::SharedLibrary::open("libz.so.1"));
  static ZlibLibrary api{};
  BERTH_TRY(library.resolve("deflateInit2_", api.initDeflate));
  BERTH_TRY(library.resolve("deflate", api.deflate));
  BERTH_TRY(library.resolve("deflateEnd", api.endDeflate));
  return &api;
}

}  // namespace

Result<const ArchiveWriteLibrary*> archiveWriteLibrary() {
  static const Result<const ArchiveWriteLibrary*> loaded = loadArchive();
  return loaded;
}

Result<const ZlibLibrary*> zlibLibrary() {
  static const Result<const ZlibLibrary*> loaded = loadZlib();
  return loaded;
}

Error archiveWriteErrorOf(const ArchiveWriteLibrary& lib, struct archive* a,
                          std::string_view what) {
  const char* message = lib.errorString(a);
  return Error(fmt::format("{}: {}", what, message ? message : "unknown libarchive error"),
               lib.errnoOf(a));
}

}  // namespace berth::build
