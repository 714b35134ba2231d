// Shared between squashfs_writer.cpp and squashfs_tree.cpp; not part of the public API.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string_view>

#include <sqfs/dir_writer.h>
#include <sqfs/meta_writer.h>
#include <sqfs/predef.h>

#include "shared/convert/fs_tree.hpp"
#include "shared/core/log.hpp"
#include "shared/core/result.hpp"

namespace berth::convert {

// The owner of any libsquashfs object (they all share sqfs_object_t's destroy).
struct SqfsDestroy {
  void operator()(void* object) const { sqfs_destroy(object); }
};
template <typename T>
using SqfsPtr = std::unique_ptr<T, SqfsDestroy>;

// "WHAT: reason" for a negative SQFS_ERROR code.
Error sqfsError(int code, std::string_view what);

struct SquashfsTables {
  sqfs_file_t* file;
  sqfs_compressor_t* cmp;
  sqfs_id_table_t* ids;
  sqfs_xattr_writer_t* xattrs;
  sqfs_super_t* super;
};

struct TreeWriteResult {
  SqfsPtr<sqfs_meta_writer_t> inodeWriter;
  SqfsPtr<sqfs_meta_writer_t> dirMetaWriter;
  SqfsPtr<sqfs_dir_writer_t> dirWriter;  // declared last: destroyed before dirMetaWriter
  uint32_t rootInodeNumber = 0;
  uint64_t rootInodeRef = 0;
  uint64_t inodeCount = 0;
  uint64_t xattrsDropped = 0;
};

// Writes the inode and directory tables of `tree` (file inodes come from the block processor,
// indexed by FsInode::dataId) and sets the matching superblock fields.
Result<TreeWriteResult> writeSquashfsTree(const FsTree& tree,
                                          const std::deque<sqfs_inode_generic_t*>& fileInodes,
                                          const SquashfsTables& tables, const Logger& log);

}  // namespace berth::convert
