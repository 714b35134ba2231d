// The entry points of libsquashfuse_ll and libfuse3 that berth's FUSE server calls, resolved
// at run time through libsquashfuse_ll's handle (nothing pays for loading them until an
// unprivileged container starts).
#pragma once

#include <sys/stat.h>

#include <cstddef>

// libsquashfuse's headers pick the FUSE API version (3.2) and include libfuse3's.
#include <squashfuse/ll.h>

#include "shared/core/result.hpp"

namespace berth::container::fuse_server {

// Not in libsquashfuse's installed headers (stat.h, fuseprivate.h), exported all the same.
using StatFn = sqfs_err (*)(sqfs*, sqfs_inode*, struct stat*);
using ListXattrFn = int (*)(sqfs*, sqfs_inode*, char*, size_t*);

// The entry points of libsquashfuse_ll and libfuse3 (resolved through the former's handle).
struct Api {
  // libsquashfuse: reading the image.
  decltype(&sqfs_init) init = nullptr;
  decltype(&sqfs_destroy) destroy = nullptr;
  decltype(&sqfs_inode_root) inodeRoot = nullptr;
  decltype(&sqfs_inode_get) inodeGet = nullptr;
  StatFn stat = nullptr;
  decltype(&sqfs_dir_open) dirOpen = nullptr;
  decltype(&sqfs_dir_next) dirNext = nullptr;
  decltype(&sqfs_dir_lookup) dirLookup = nullptr;
  decltype(&sqfs_dentry_init) dentryInit = nullptr;
  decltype(&sqfs_dentry_inode) dentryInode = nullptr;
  decltype(&sqfs_dentry_mode) dentryMode = nullptr;
  decltype(&sqfs_dentry_name) dentryName = nullptr;
  decltype(&sqfs_dentry_next_offset) dentryNextOffset = nullptr;
  decltype(&sqfs_readlink) readlink = nullptr;
  ListXattrFn listxattr = nullptr;
  decltype(&sqfs_xattr_lookup) xattrLookup = nullptr;
  decltype(&sqfs_blockidx_blocklist) blocklist = nullptr;
  decltype(&sqfs_blocklist_next) blocklistNext = nullptr;
  decltype(&sqfs_frag_entry) fragEntry = nullptr;
  decltype(&sqfs_data_block_read) dataBlockRead = nullptr;
  decltype(&sqfs_block_dispose) blockDispose = nullptr;
  decltype(&sqfs_cache_destroy) cacheDestroy = nullptr;
  decltype(&sqfs_block_cache_init) blockCacheInit = nullptr;
  // libfuse3: the session and its loop's parts.
  decltype(&fuse_session_new) sessionNew = nullptr;
  decltype(&fuse_session_mount) sessionMount = nullptr;
  decltype(&fuse_session_destroy) sessionDestroy = nullptr;
  decltype(&fuse_session_receive_buf) receiveBuf = nullptr;
  decltype(&fuse_session_process_buf) processBuf = nullptr;
  decltype(&fuse_session_exited) sessionExited = nullptr;
  decltype(&fuse_session_exit) sessionExit = nullptr;
  // libfuse3: answers.
  decltype(&fuse_reply_err) replyErr = nullptr;
  decltype(&fuse_reply_entry) replyEntry = nullptr;
  decltype(&fuse_reply_attr) replyAttr = nullptr;
  decltype(&fuse_reply_open) replyOpen = nullptr;
  decltype(&fuse_reply_buf) replyBuf = nullptr;
  decltype(&fuse_reply_iov) replyIov = nullptr;
  decltype(&fuse_reply_readlink) replyReadlink = nullptr;
  decltype(&fuse_reply_xattr) replyXattr = nullptr;
  decltype(&fuse_reply_statfs) replyStatfs = nullptr;
  decltype(&fuse_add_direntry) addDirentry = nullptr;
  decltype(&fuse_add_direntry_plus) addDirentryPlus = nullptr;
  decltype(&fuse_lowlevel_notify_store) notifyStore = nullptr;
};

// The library, loaded once per process; an error names the package to install.
[[nodiscard]] Result<const Api*> squashfuseLibrary();

}  // namespace berth::container::fuse_server
