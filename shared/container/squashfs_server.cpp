#include "shared/container/squashfs_server.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include <fmt/format.h>
// libsquashfuse's headers pick the FUSE API version (3.2) and include libfuse3's.
#include <squashfuse/ll.h>

#include "shared/sys/shared_library.hpp"

namespace berth::container {
namespace {

// The entry points of libsquashfuse_ll and libfuse3 (resolved through the former's handle).
struct SquashfuseLibrary {
  fuse_lowlevel_ops ops{};
  sqfs_ll* (*open)(const char*, size_t) = nullptr;
  void (*destroy)(sqfs_ll*) = nullptr;
  void (*cacheDestroy)(sqfs_cache*) = nullptr;
  sqfs_err (*blockCacheInit)(sqfs_cache*, size_t) = nullptr;
  fuse_session* (*sessionNew)(fuse_args*, const fuse_lowlevel_ops*, size_t, void*) = nullptr;
  int (*sessionMount)(fuse_session*, const char*) = nullptr;
  int (*sessionLoop)(fuse_session*) = nullptr;
  void (*sessionDestroy)(fuse_session*) = nullptr;
};

Result<const SquashfuseLibrary*> load() {
  BERTH_ASSIGN(sys::SharedLibrary library, sys::SharedLibrary::open("libsquashfuse_ll.so.0"));
  static SquashfuseLibrary api;
  fuse_lowlevel_ops& ops = api.ops;
  // The operations squashfuse_ll itself installs: a read-only file system.
  BERTH_TRY(library.resolve("sqfs_ll_op_getattr", ops.getattr));
  BERTH_TRY(library.resolve("sqfs_ll_op_opendir", ops.opendir));
  BERTH_TRY(library.resolve("sqfs_ll_op_releasedir", ops.releasedir));
  BERTH_TRY(library.resolve("sqfs_ll_op_readdir", ops.readdir));
  BERTH_TRY(library.resolve("sqfs_ll_op_lookup", ops.lookup));
  BERTH_TRY(library.resolve("sqfs_ll_op_open", ops.open));
  BERTH_TRY(library.resolve("sqfs_ll_op_create", ops.create));
  BERTH_TRY(library.resolve("sqfs_ll_op_release", ops.release));
  BERTH_TRY(library.resolve("sqfs_ll_op_read", ops.read));
  BERTH_TRY(library.resolve("sqfs_ll_op_readlink", ops.readlink));
  BERTH_TRY(library.resolve("sqfs_ll_op_listxattr", ops.listxattr));
  BERTH_TRY(library.resolve("sqfs_ll_op_getxattr", ops.getxattr));
  BERTH_TRY(library.resolve("sqfs_ll_op_forget", ops.forget));
  BERTH_TRY(library.resolve("stfs_ll_op_statfs", ops.statfs));  // sic: the library's name
  BERTH_TRY(library.resolve("sqfs_ll_open", api.open));
  BERTH_TRY(library.resolve("sqfs_ll_destroy", api.destroy));
  BERTH_TRY(library.resolve("sqfs_cache_destroy", api.cacheDestroy));
  BERTH_TRY(library.resolve("sqfs_block_cache_init", api.blockCacheInit));
  BERTH_TRY(library.resolve("fuse_session_new", api.sessionNew));
  BERTH_TRY(library.resolve("fuse_session_mount", api.sessionMount));
  BERTH_TRY(library.resolve("fuse_session_loop", api.sessionLoop));
  BERTH_TRY(library.resolve("fuse_session_destroy", api.sessionDestroy));
  return &api;
}

Result<const SquashfuseLibrary*> squashfuseLibrary() {
  // Loaded once per process (a function-local static: thread-safe initialisation).
  static const Result<const SquashfuseLibrary*> loaded =
      load().withContext("unprivileged containers need libsquashfuse (package libsquashfuse0)");
  return loaded;
}

// Replaces the data block cache (one block) with one of `kSquashfsBlockCacheBytes`.
Status enlargeBlockCache(const SquashfuseLibrary& api, sqfs_ll& ll) {
  size_t blockSize = std::max<size_t>(ll.fs.sb.block_size, 4096);
  size_t blocks = std::max<size_t>(kSquashfsBlockCacheBytes / blockSize, 4);
  api.cacheDestroy(&ll.fs.data_cache);
  if (api.blockCacheInit(&ll.fs.data_cache, blocks) != SQFS_OK)
    return Error("squashfs block cache: out of memory");
  return okStatus();
}

// Frees an opened image: the library's destroy leaves the image's fd open.
void closeImage(const SquashfuseLibrary& api, sqfs_ll* ll) {
  int fd = ll->fs.fd;
  api.destroy(ll);
  ::free(ll);
  ::close(fd);
}

// The server child: never returns.
[[noreturn]] void serve(const SquashfuseLibrary& api, sqfs_ll* ll, int fuseFd) {
  ::prctl(PR_SET_NAME, "berth-squashfs");
  char program[] = "berth-squashfs";
  char* argv[] = {program, nullptr};
  fuse_args args = FUSE_ARGS_INIT(1, argv);
  fuse_lowlevel_ops ops = api.ops;
  if (ll->fs.xattr_info.xattr_ids == 0) {
    // No extended attributes in the image: leaving the operations out makes libfuse answer
    // ENOSYS once, and the kernel stops asking. Otherwise the overlay on top would query
    // every file it looks up for its user.overlay.* attributes, each a round trip to us.
    ops.getxattr = nullptr;
    ops.listxattr = nullptr;
  }
  fuse_session* session = api.sessionNew(&args, &ops, sizeof(ops), ll);
  // "/dev/fd/N": libfuse's convention for a connection the caller has mounted already.
  std::string connection = fmt::format("/dev/fd/{}", fuseFd);
  if (session == nullptr || api.sessionMount(session, connection.c_str()) != 0)
    ::_exit(1);
  int status = api.sessionLoop(session);
  api.sessionDestroy(session);
  ::_exit(status == 0 ? 0 : 1);
}

}  // namespace

Result<sys::ChildProcess> serveSquashfs(int imageFd, int fuseFd) {
  BERTH_ASSIGN(const SquashfuseLibrary* api, squashfuseLibrary());
  // libsquashfuse opens the image by name: the fd's /dev/fd path (the caller's check of the
  // user's access stays valid, it is the same open file).
  std::string image = fmt::format("/dev/fd/{}", imageFd);
  sqfs_ll* ll = api->open(image.c_str(), 0);
  if (ll == nullptr)
    return Error("not a squashfs image (libsquashfuse could not open it)");
  if (Status cache = enlargeBlockCache(*api, *ll); !cache.ok()) {
    closeImage(*api, ll);
    return cache.error();
  }
  pid_t pid = ::fork();
  if (pid == 0)
    serve(*api, ll, fuseFd);
  int forkErrno = errno;
  closeImage(*api, ll);  // the parent's copy: the child has its own

  if (pid < 0)
    return Error::fromErrno(forkErrno, "start the squashfs server");
  return sys::ChildProcess(pid);
}

}  // namespace berth::container
