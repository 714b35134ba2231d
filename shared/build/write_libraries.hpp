// libarchive's tar writer and zlib's deflate, loaded the first time berth writes a layer.
//
// Like the readers (convert/archive_library.hpp), only builds write layers, so neither library
// is linked: every process that loads berth (`berth exec`, spank_berth.so) would pay for them at
// start-up. Types and constants come from the headers alone.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <string_view>

#include "shared/core/result.hpp"

namespace berth::build {

// The libarchive entry points the layer writer uses (from libarchive.so.13).
struct ArchiveWriteLibrary {
  decltype(&::archive_write_new) writeNew;
  decltype(&::archive_write_free) writeFree;
  decltype(&::archive_write_set_format_pax_restricted) setFormatPaxRestricted;
  decltype(&::archive_write_add_filter_none) addFilterNone;
  decltype(&::archive_write_set_bytes_per_block) setBytesPerBlock;
  decltype(&::archive_write_set_bytes_in_last_block) setBytesInLastBlock;
  decltype(&::archive_write_open) open;
  decltype(&::archive_write_header) writeHeader;
  decltype(&::archive_write_data) writeData;
  decltype(&::archive_write_close) close;
  decltype(&::archive_errno) errnoOf;
  decltype(&::archive_error_string) errorString;
  decltype(&::archive_entry_new) entryNew;
  decltype(&::archive_entry_free) entryFree;
  decltype(&::archive_entry_set_pathname) entrySetPathname;
  decltype(&::archive_entry_set_filetype) entrySetFiletype;
  decltype(&::archive_entry_set_perm) entrySetPerm;
  decltype(&::archive_entry_set_uid) entrySetUid;
  decltype(&::archive_entry_set_gid) entrySetGid;
  decltype(&::archive_entry_set_mtime) entrySetMtime;
  decltype(&::archive_entry_set_size) entrySetSize;
  decltype(&::archive_entry_set_symlink) entrySetSymlink;
  decltype(&::archive_entry_set_hardlink) entrySetHardlink;
  decltype(&::archive_entry_set_rdevmajor) entrySetRdevmajor;
  decltype(&::archive_entry_set_rdevminor) entrySetRdevminor;
  decltype(&::archive_entry_xattr_add_entry) entryXattrAddEntry;
};

// zlib's deflate (libz.so.1), for gzip streams whose header carries no name and no time.
struct ZlibLibrary {
  decltype(&::deflateInit2_) initDeflate;  // zlib.h's deflateInit2 is a macro over it
  decltype(&::deflate) deflate;
  decltype(&::deflateEnd) endDeflate;
};

// Each opened once per process; they stay loaded until exit.
Result<const ArchiveWriteLibrary*> archiveWriteLibrary();
Result<const ZlibLibrary*> zlibLibrary();

// libarchive's last error on `a`, as "WHAT: MESSAGE" with its errno.
Error archiveWriteErrorOf(const ArchiveWriteLibrary& lib, struct archive* a, std::string_view what);

}  // namespace berth::build
