#include "shared/container/squashfs_fuse_api.hpp"

#include "shared/sys/shared_library.hpp"

namespace berth::container::fuse_server {
namespace {

Result<const Api*> load() {
  BERTH_ASSIGN(sys::SharedLibrary library, sys::SharedLibrary::open("libsquashfuse_ll.so.0"));
  static Api api;
  BERTH_TRY(library.resolve("sqfs_init", api.init));
  BERTH_TRY(library.resolve("sqfs_destroy", api.destroy));
  BERTH_TRY(library.resolve("sqfs_inode_root", api.inodeRoot));
  BERTH_TRY(library.resolve("sqfs_inode_get", api.inodeGet));
  BERTH_TRY(library.resolve("sqfs_stat", api.stat));
  BERTH_TRY(library.resolve("sqfs_dir_open", api.dirOpen));
  BERTH_TRY(library.resolve("sqfs_dir_next", api.dirNext));
  BERTH_TRY(library.resolve("sqfs_dir_lookup", api.dirLookup));
  BERTH_TRY(library.resolve("sqfs_dentry_init", api.dentryInit));
  BERTH_TRY(library.resolve("sqfs_dentry_inode", api.dentryInode));
  BERTH_TRY(library.resolve("sqfs_dentry_mode", api.dentryMode));
  BERTH_TRY(library.resolve("sqfs_dentry_name", api.dentryName));
  BERTH_TRY(library.resolve("sqfs_dentry_next_offset", api.dentryNextOffset));
  BERTH_TRY(library.resolve("sqfs_readlink", api.readlink));
  BERTH_TRY(library.resolve("sqfs_listxattr", api.listxattr));
  BERTH_TRY(library.resolve("sqfs_xattr_lookup", api.xattrLookup));
  BERTH_TRY(library.resolve("sqfs_blockidx_blocklist", api.blocklist));
  BERTH_TRY(library.resolve("sqfs_blocklist_next", api.blocklistNext));
  BERTH_TRY(library.resolve("sqfs_frag_entry", api.fragEntry));
  BERTH_TRY(library.resolve("sqfs_data_block_read", api.dataBlockRead));
  BERTH_TRY(library.resolve("sqfs_block_dispose", api.blockDispose));
  BERTH_TRY(library.resolve("sqfs_cache_destroy", api.cacheDestroy));
  BERTH_TRY(library.resolve("sqfs_block_cache_init", api.blockCacheInit));
  BERTH_TRY(library.resolve("fuse_session_new", api.sessionNew));
  BERTH_TRY(library.resolve("fuse_session_mount", api.sessionMount));
  BERTH_TRY(library.resolve("fuse_session_destroy", api.sessionDestroy));
  BERTH_TRY(library.resolve("fuse_session_receive_buf", api.receiveBuf));
  BERTH_TRY(library.resolve("fuse_session_process_buf", api.processBuf));
  BERTH_TRY(library.resolve("fuse_session_exited", api.sessionExited));
  BERTH_TRY(library.resolve("fuse_session_exit", api.sessionExit));
  BERTH_TRY(library.resolve("fuse_reply_err", api.replyErr));
  BERTH_TRY(library.resolve("fuse_reply_entry", api.replyEntry));
  BERTH_TRY(library.resolve("fuse_reply_attr", api.replyAttr));
  BERTH_TRY(library.resolve("fuse_reply_open", api.replyOpen));
  BERTH_TRY(library.resolve("fuse_reply_buf", api.replyBuf));
  BERTH_TRY(library.resolve("fuse_reply_iov", api.replyIov));
  BERTH_TRY(library.resolve("fuse_reply_readlink", api.replyReadlink));
  BERTH_TRY(library.resolve("fuse_reply_xattr", api.replyXattr));
  BERTH_TRY(library.resolve("fuse_reply_statfs", api.replyStatfs));
  BERTH_TRY(library.resolve("fuse_add_direntry", api.addDirentry));
  BERTH_TRY(library.resolve("fuse_add_direntry_plus", api.addDirentryPlus));
  BERTH_TRY(library.resolve("fuse_lowlevel_notify_store", api.notifyStore));
  return &api;
}

}  // namespace

Result<const Api*> squashfuseLibrary() {
  // Loaded once per process (a function-local static: thread-safe initialisation).
  static const Result<const Api*> loaded =
      load().withContext("unprivileged containers need libsquashfuse (package libsquashfuse0)");
  return loaded;
}

}  // namespace berth::container::fuse_server
