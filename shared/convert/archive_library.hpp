// libarchive, loaded the first time berth reads a layer or a directory tree.
//
// libarchive drags in libxml2, libicu, nettle, acl, lzma, bz2, lz4, ... (~1.75 ms of start-up for
// every process that loads berth: `berth exec`, and every srun and slurmstepd through
// spank_berth.so). Only pulls and conversions read tar streams, so the library is opened on
// first use instead. Types and constants (AE_IFDIR, ARCHIVE_OK, ...) come from the headers.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <string_view>

#include "shared/core/result.hpp"

namespace berth::convert {

// The libarchive entry points berth uses, resolved from libarchive.so.13 (typed from the
// headers' declarations, which are never called directly).
struct ArchiveLibrary {
  // Readers: tar streams and directory trees.
  decltype(&::archive_read_new) readNew;
  decltype(&::archive_read_disk_new) readDiskNew;
  decltype(&::archive_read_free) readFree;
  decltype(&::archive_read_support_format_tar) supportFormatTar;
  decltype(&::archive_read_support_format_raw) supportFormatRaw;
  decltype(&::archive_read_support_filter_gzip) supportFilterGzip;
  decltype(&::archive_read_support_filter_zstd) supportFilterZstd;
  decltype(&::archive_read_support_filter_xz) supportFilterXz;
  decltype(&::archive_read_support_filter_bzip2) supportFilterBzip2;
  decltype(&::archive_read_open_filename) readOpenFilename;
  decltype(&::archive_read_open_memory) readOpenMemory;
  decltype(&::archive_read_open) readOpen;
  decltype(&::archive_read_disk_set_symlink_physical) readDiskSetSymlinkPhysical;
  decltype(&::archive_read_disk_open) readDiskOpen;
  decltype(&::archive_read_disk_descend) readDiskDescend;
  decltype(&::archive_read_next_header) readNextHeader;
  decltype(&::archive_read_data) readData;
  decltype(&::archive_errno) errnoOf;
  decltype(&::archive_error_string) errorString;
  // Entries.
  decltype(&::archive_entry_pathname) entryPathname;
  decltype(&::archive_entry_hardlink) entryHardlink;
  decltype(&::archive_entry_symlink) entrySymlink;
  decltype(&::archive_entry_filetype) entryFiletype;
  decltype(&::archive_entry_perm) entryPerm;
  decltype(&::archive_entry_uid) entryUid;
  decltype(&::archive_entry_gid) entryGid;
  decltype(&::archive_entry_mtime_is_set) entryMtimeIsSet;
  decltype(&::archive_entry_mtime) entryMtime;
  decltype(&::archive_entry_size) entrySize;
  decltype(&::archive_entry_rdevmajor) entryRdevmajor;
  decltype(&::archive_entry_rdevminor) entryRdevminor;
  decltype(&::archive_entry_xattr_reset) entryXattrReset;
  decltype(&::archive_entry_xattr_next) entryXattrNext;
  // Writers: the tar stream of a flattened layer (flatten_layer.cpp).
  decltype(&::archive_write_new) writeNew;
  decltype(&::archive_write_free) writeFree;
  decltype(&::archive_write_set_format_pax_restricted) writeSetFormatPaxRestricted;
  decltype(&::archive_write_set_bytes_per_block) writeSetBytesPerBlock;
  decltype(&::archive_write_set_bytes_in_last_block) writeSetBytesInLastBlock;
  decltype(&::archive_write_open2) writeOpen2;
  decltype(&::archive_write_header) writeHeader;
  decltype(&::archive_write_data) writeData;
  decltype(&::archive_write_close) writeClose;
  decltype(&::archive_entry_new) entryNew;
  decltype(&::archive_entry_free) entryFree;
  decltype(&::archive_entry_clear) entryClear;
  decltype(&::archive_entry_copy_pathname) entryCopyPathname;
  decltype(&::archive_entry_copy_hardlink) entryCopyHardlink;
  decltype(&::archive_entry_copy_symlink) entryCopySymlink;
  decltype(&::archive_entry_set_filetype) entrySetFiletype;
  decltype(&::archive_entry_set_perm) entrySetPerm;
  decltype(&::archive_entry_set_uid) entrySetUid;
  decltype(&::archive_entry_set_gid) entrySetGid;
  decltype(&::archive_entry_set_mtime) entrySetMtime;
  decltype(&::archive_entry_set_size) entrySetSize;
  decltype(&::archive_entry_set_rdevmajor) entrySetRdevmajor;
  decltype(&::archive_entry_set_rdevminor) entrySetRdevminor;
  decltype(&::archive_entry_xattr_add_entry) entryXattrAddEntry;
};

// Opens libarchive once per process; stays loaded until exit.
Result<const ArchiveLibrary*> archiveLibrary();

// Enables on `a` the compressions layers use (gzip, zstd, xz, bzip2; plain needs none): a
// smaller attack surface than archive_read_support_filter_all.
Status supportLayerFilters(const ArchiveLibrary& lib, struct archive* a);

// libarchive's last error on `a`, as "WHAT: MESSAGE" with its errno.
Error archiveErrorOf(const ArchiveLibrary& lib, struct archive* a, std::string_view what);

}  // namespace berth::convert
