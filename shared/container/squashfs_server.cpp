#include "shared/container/squashfs_server.hpp"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "shared/container/squashfs_block_cache.hpp"
#include "shared/container/squashfs_fuse_api.hpp"
#include "shared/container/squashfs_inode_numbers.hpp"
#include "shared/container/squashfs_prefetcher.hpp"
#include "shared/container/squashfs_server_threads.hpp"

namespace berth::container {
namespace {

using fuse_server::Api;
using fuse_server::BlockCache;
using fuse_server::FragmentFile;
using fuse_server::InodeNumbers;
using fuse_server::kMaxFragmentFiles;
using fuse_server::Prefetcher;

// The kernel may keep lookups and attributes for ever: the image never changes.
constexpr double kForever = DBL_MAX;

// What the server's threads share. libsquashfuse's image handle is not thread-safe (its
// metadata cache and block index are plain arrays): every use of it but the decompression of
// data blocks (a pread and a stateless decompressor call) holds `metadata`. Metadata blocks are
// small and few, and cached; data blocks are the work, done in parallel outside the lock.
struct Server {
  const Api& api;
  sqfs fs;
  std::mutex metadata;
  size_t blockSize;
  InodeNumbers inodes;
  std::vector<char> zeros;  // a hole's data: one block of zeros
  BlockCache blocks;
  // Small files whose data is all in a fragment block, by fragment, as directory listings
  // showed them (under `metadata`): when one is read, the others of its block are pushed into
  // the kernel's page cache (see Prefetcher).
  std::unordered_map<uint32_t, std::vector<FragmentFile>> fragmentFiles{};
  size_t fragmentFileCount = 0;
  Prefetcher* prefetcher = nullptr;
  bool openWithoutRequest = false;     // the kernel opens files without asking after ENOSYS
  bool opendirWithoutRequest = false;  // and directories
};

// The child serves one image: its state for the operations (set before the loop starts).
Server* server = nullptr;

// An inode's attributes; a directory's size as the kernel's squashfs gives it (libsquashfuse
// says 0). Under `metadata`.
bool statInode(sqfs_inode& inode, struct stat& st) {
  if (server->api.stat(&server->fs, &inode, &st) != SQFS_OK)
    return false;
  if (S_ISDIR(inode.base.mode))
    st.st_size = inode.xtra.dir.dir_size;
  return true;
}

// The inode FUSE calls `ino`, or an errno. Under `metadata`.
int inodeOf(fuse_ino_t ino, sqfs_inode& inode) {
  if (server->api.inodeGet(&server->fs, &inode, server->inodes.squashfs(ino)) != SQFS_OK)
    return ENOENT;
  return 0;
}

// The kernel's view of the entry `entry` (attributes and inode number, cached for ever). Under
// `metadata`.
bool entryParam(sqfs_dir_entry& entry, fuse_entry_param& param, sqfs_inode& inode) {
  std::memset(&param, 0, sizeof param);
  param.attr_timeout = param.entry_timeout = kForever;
  sqfs_inode_id id = server->api.dentryInode(&entry);
  if (server->api.inodeGet(&server->fs, &inode, id) != SQFS_OK || !statInode(inode, param.attr))
    return false;
  param.ino = server->inodes.fuse(id);
  param.attr.st_ino = param.ino;
  return true;
}

void opInit(void* /*userdata*/, fuse_conn_info* conn) noexcept {
  // Opens answered ENOSYS once: the kernel opens without a request after, keeping the pages.
  server->openWithoutRequest = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
  server->opendirWithoutRequest = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
  if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
    conn->want |= FUSE_CAP_CACHE_SYMLINKS;
  // Every listing with attributes (not only the first of a directory): the reader of a tree
  // stats or opens what it lists.
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  // Nothing changes under the kernel's page cache.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

// The entry `name` of directory `parent`: its attributes, or inode 0 when there is none (the
// kernel then remembers that the name does not exist); or an errno. Under `metadata`.
int lookUp(fuse_ino_t parent, const char* name, fuse_entry_param& param) {
  const Api& api = server->api;
  sqfs_inode dir;
  if (int error = inodeOf(parent, dir); error != 0)
    return error;
  if (!S_ISDIR(dir.base.mode))
    return ENOTDIR;
  sqfs_name nameBuffer;
  sqfs_dir_entry entry;
  api.dentryInit(&entry, nameBuffer);
  bool found = false;
  if (api.dirLookup(&server->fs, &dir, name, std::strlen(name), &entry, &found) != SQFS_OK)
    return EIO;
  if (!found) {
    std::memset(&param, 0, sizeof param);
    param.attr_timeout = param.entry_timeout = kForever;
    return 0;
  }
  sqfs_inode inode;
  return entryParam(entry, param, inode) ? 0 : EIO;
}

void opLookup(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  fuse_entry_param param;
  int error = 0;
  {
    std::lock_guard lock(server->metadata);
    error = lookUp(parent, name, param);
  }
  if (error != 0)
    server->api.replyErr(req, error);
  else
    server->api.replyEntry(req, &param);
}

void opGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* /*fi*/) noexcept {
  struct stat st;
  int error = 0;
  {
    std::lock_guard lock(server->metadata);
    sqfs_inode inode;
    if ((error = inodeOf(ino, inode)) == 0 && !statInode(inode, st))
      error = EIO;
  }
  if (error != 0) {
    server->api.replyErr(req, error);
    return;
  }
  st.st_ino = ino;
  server->api.replyAttr(req, &st, kForever);
}

void opOpen(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* fi) noexcept {
  if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    server->api.replyErr(req, EROFS);
    return;
  }
  if (server->openWithoutRequest) {
    server->api.replyErr(req, ENOSYS);
    return;
  }
  fi->keep_cache = 1;
  server->api.replyOpen(req, fi);
}

void opOpendir(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* fi) noexcept {
  if (server->opendirWithoutRequest) {
    server->api.replyErr(req, ENOSYS);
    return;
  }
  fi->cache_readdir = 1;
  fi->keep_cache = 1;
  server->api.replyOpen(req, fi);
}

// Notes `inode` (FUSE number `ino`) when it is a small file held whole in a fragment block.
// Under `metadata`.
void rememberFragmentFile(const sqfs_inode& inode, fuse_ino_t ino) {
  if (!S_ISREG(inode.base.mode) || inode.xtra.reg.frag_idx == SQUASHFS_INVALID_FRAG ||
      inode.xtra.reg.file_size == 0 || inode.xtra.reg.file_size >= server->blockSize ||
      server->fragmentFileCount >= kMaxFragmentFiles)
    return;
  std::vector<FragmentFile>& files = server->fragmentFiles[inode.xtra.reg.frag_idx];
  for (const FragmentFile& file : files)
    if (file.ino == ino)
      return;  // listed again
  files.push_back({ino, inode.xtra.reg.frag_off, static_cast<uint32_t>(inode.xtra.reg.file_size)});
  ++server->fragmentFileCount;
}

// A directory's entries from `offset` into at most `size` bytes of `buffer`; with `plus`, each
// with its attributes (READDIRPLUS). The bytes used, or an errno.
int readDirectory(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, bool plus,
                  std::vector<char>& buffer, size_t& used) {
  const Api& api = server->api;
  buffer.resize(std::max(buffer.size(), size));
  used = 0;
  std::lock_guard lock(server->metadata);
  sqfs_inode inode;
  if (int error = inodeOf(ino, inode); error != 0)
    return error;
  if (!S_ISDIR(inode.base.mode))
    return ENOTDIR;
  sqfs_dir dir;
  if (api.dirOpen(&server->fs, &inode, &dir, offset) != SQFS_OK)
    return EINVAL;
  sqfs_name nameBuffer;
  sqfs_dir_entry entry;
  api.dentryInit(&entry, nameBuffer);
  sqfs_err error = SQFS_OK;
  while (api.dirNext(&server->fs, &dir, &entry, &error)) {
    const char* name = api.dentryName(&entry);
    off_t next = api.dentryNextOffset(&entry);
    size_t length = 0;
    if (plus) {
      fuse_entry_param param;
      sqfs_inode file;
      if (!entryParam(entry, param, file))
        return EIO;
      rememberFragmentFile(file, param.ino);
      length = api.addDirentryPlus(req, buffer.data() + used, size - used, name, &param, next);
    } else {
      struct stat st {};
      st.st_ino = server->inodes.fuse(api.dentryInode(&entry));
      st.st_mode = api.dentryMode(&entry);
      length = api.addDirentry(req, buffer.data() + used, size - used, name, &st, next);
    }
    if (length > size - used)
      break;  // did not fit: the next request starts with it
    used += length;
  }
  return error != SQFS_OK ? EIO : 0;
}

void replyDirectory(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, bool plus) noexcept {
  try {
    thread_local std::vector<char> buffer;
    size_t used = 0;
    if (int error = readDirectory(req, ino, size, offset, plus, buffer, used); error != 0)
      server->api.replyErr(req, error);
    else
      server->api.replyBuf(req, buffer.data(), used);
  } catch (...) {  // out of memory
    server->api.replyErr(req, ENOMEM);
  }
}

void opReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
               fuse_file_info* /*fi*/) noexcept {
  replyDirectory(req, ino, size, offset, false);
}

void opReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                   fuse_file_info* /*fi*/) noexcept {
  replyDirectory(req, ino, size, offset, true);
}

void opReleasedir(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* /*fi*/) noexcept {
  server->api.replyErr(req, 0);
}

void opRelease(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* /*fi*/) noexcept {
  server->api.replyErr(req, 0);
}

// One piece of a read: `length` bytes from `offset` in the data block at `pos` (`header`: its
// size and whether it is compressed), whose data must be at least `needed` bytes; or zeros.
struct Piece {
  bool hole = false;
  bool fragment = false;
  sqfs_off_t pos = 0;
  uint32_t header = 0;
  size_t offset = 0;
  size_t length = 0;
  size_t needed = 0;
};

// Plans reading `size` bytes of file `ino` from `start` (short at the end of the file): the
// blocks and the parts of them. An errno on failure. Under `metadata`.
int planRead(fuse_ino_t ino, off_t start, size_t size, std::vector<Piece>& pieces,
             std::vector<FragmentFile>& neighbours) {
  const Api& api = server->api;
  sqfs_inode inode;
  if (int error = inodeOf(ino, inode); error != 0)
    return error;
  if (!S_ISREG(inode.base.mode))
    return EISDIR;
  const uint64_t fileSize = inode.xtra.reg.file_size;
  const size_t blockSize = server->blockSize;
  if (start < 0 || static_cast<uint64_t>(start) >= fileSize)
    return 0;
  uint64_t remaining = std::min<uint64_t>(size, fileSize - static_cast<uint64_t>(start));
  sqfs_blocklist list;
  if (api.blocklist(&server->fs, &inode, &list, start) != SQFS_OK)
    return EIO;
  size_t readOffset = static_cast<uint64_t>(start) % blockSize;
  while (remaining > 0) {
    Piece piece;
    size_t dataOffset = 0;
    size_t dataSize = 0;
    bool fragment = list.remain == 0;
    if (fragment) {
      // The file's tail, packed with others in a fragment block.
      if (inode.xtra.reg.frag_idx == SQUASHFS_INVALID_FRAG)
        break;
      squashfs_fragment_entry entry;
      if (api.fragEntry(&server->fs, &entry, inode.xtra.reg.frag_idx) != SQFS_OK)
        return EIO;
      piece.fragment = true;
      piece.pos = static_cast<sqfs_off_t>(entry.start_block);
      piece.header = entry.size;
      dataOffset = inode.xtra.reg.frag_off;
      dataSize = fileSize % blockSize;
      // The other small files of this fragment block the kernel was shown: pushed after the
      // answer (once each).
      if (auto found = server->fragmentFiles.find(inode.xtra.reg.frag_idx);
          found != server->fragmentFiles.end()) {
        for (const FragmentFile& file : found->second)
          if (file.ino != ino)
            neighbours.push_back(file);
        server->fragmentFileCount -= found->second.size();
        server->fragmentFiles.erase(found);
      }
    } else {
      if (api.blocklistNext(&list) != SQFS_OK)
        return EIO;
      if (list.pos + blockSize <= static_cast<uint64_t>(start))
        continue;
      dataSize = static_cast<size_t>(std::min<uint64_t>(fileSize - list.pos, blockSize));
      piece.hole = list.input_size == 0;
      piece.pos = static_cast<sqfs_off_t>(list.block);
      piece.header = list.header;
    }
    if (readOffset >= dataSize)
      return EIO;  // a corrupt image
    piece.length = static_cast<size_t>(std::min<uint64_t>(dataSize - readOffset, remaining));
    piece.offset = dataOffset + readOffset;
    piece.needed = dataOffset + dataSize;
    pieces.push_back(piece);
    readOffset = 0;
    remaining -= piece.length;
    if (fragment)
      break;
  }
  return 0;
}

void opRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
            fuse_file_info* /*fi*/) noexcept {
  const Api& api = server->api;
  try {
    thread_local std::vector<Piece> pieces;
    thread_local std::vector<iovec> data;
    thread_local std::vector<BlockCache::Block> held;  // alive until the answer is written
    std::vector<FragmentFile> neighbours;
    pieces.clear();
    int error = 0;
    {
      std::lock_guard lock(server->metadata);
      error = planRead(ino, offset, size, pieces, neighbours);
    }
    data.clear();
    held.clear();
    // The blocks themselves: decompressed (or found in the cache) outside the lock.
    for (const Piece& piece : pieces) {
      if (error != 0)
        break;
      const char* bytes = server->zeros.data();
      if (!piece.hole) {
        BlockCache::Block block = server->blocks.get(&server->fs, piece.pos, piece.header);
        if (!block || block->size < piece.needed) {
          error = EIO;  // unreadable, or shorter than the file says (a corrupt image)
          break;
        }
        bytes = static_cast<const char*>(block->data) + piece.offset;
        held.push_back(std::move(block));
      }
      data.push_back({const_cast<char*>(bytes), piece.length});
    }
    if (error != 0)
      api.replyErr(req, error);
    else if (data.empty())
      api.replyBuf(req, nullptr, 0);  // end of file
    else
      api.replyIov(req, data.data(), static_cast<int>(data.size()));
    if (error == 0 && !neighbours.empty() && !pieces.empty() && pieces.back().fragment)
      server->prefetcher->push(held.back(), std::move(neighbours));
    held.clear();
  } catch (...) {  // out of memory
    api.replyErr(req, ENOMEM);
  }
}

// The target of symlink `ino`, or an errno. Under `metadata`.
int linkTarget(fuse_ino_t ino, std::string& target) {
  const Api& api = server->api;
  sqfs_inode inode;
  if (int error = inodeOf(ino, inode); error != 0)
    return error;
  if (!S_ISLNK(inode.base.mode))
    return EINVAL;
  size_t size = 0;
  if (api.readlink(&server->fs, &inode, nullptr, &size) != SQFS_OK)
    return EIO;
  target.resize(size + 1);  // libsquashfuse writes the terminating NUL
  if (api.readlink(&server->fs, &inode, target.data(), &size) != SQFS_OK)
    return EIO;
  target.resize(std::strlen(target.c_str()));
  return 0;
}

void opReadlink(fuse_req_t req, fuse_ino_t ino) noexcept {
  try {
    std::string target;
    int error = 0;
    {
      std::lock_guard lock(server->metadata);
      error = linkTarget(ino, target);
    }
    if (error != 0)
      server->api.replyErr(req, error);
    else
      server->api.replyReadlink(req, target.c_str());
  } catch (...) {  // out of memory
    server->api.replyErr(req, ENOMEM);
  }
}

void opListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) noexcept {
  const Api& api = server->api;
  std::unique_ptr<char[]> buffer;
  if (size > 0) {
    buffer.reset(new (std::nothrow) char[size]);
    if (!buffer) {
      api.replyErr(req, ENOMEM);
      return;
    }
  }
  int error = 0;
  {
    std::lock_guard lock(server->metadata);
    sqfs_inode inode;
    if ((error = inodeOf(ino, inode)) == 0)
      error = api.listxattr(&server->fs, &inode, buffer.get(), &size);
  }
  if (error != 0)
    api.replyErr(req, error);
  else if (buffer)
    api.replyBuf(req, buffer.get(), size);
  else
    api.replyXattr(req, size);
}

void opGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) noexcept {
  const Api& api = server->api;
  // libsquashfuse writes the value (up to `size`) and says its real length.
  std::unique_ptr<char[]> buffer(new (std::nothrow) char[std::max<size_t>(size, 1)]);
  if (!buffer) {
    api.replyErr(req, ENOMEM);
    return;
  }
  size_t real = size;
  int error = 0;
  {
    std::lock_guard lock(server->metadata);
    sqfs_inode inode;
    if ((error = inodeOf(ino, inode)) == 0 &&
        api.xattrLookup(&server->fs, &inode, name, buffer.get(), &real) != SQFS_OK)
      error = EIO;
  }
  if (error != 0)
    api.replyErr(req, error);
  else if (real == 0)
    api.replyErr(req, ENODATA);
  else if (size == 0)
    api.replyXattr(req, real);
  else if (size < real)
    api.replyErr(req, ERANGE);
  else
    api.replyBuf(req, buffer.get(), real);
}

void opStatfs(fuse_req_t req, fuse_ino_t /*ino*/) noexcept {
  const squashfs_super_block& sb = server->fs.sb;  // read-only after the image was opened
  struct statvfs st {};
  st.f_bsize = st.f_frsize = sb.block_size;
  st.f_blocks = ((sb.bytes_used - 1) >> sb.block_log) + 1;
  st.f_files = sb.inodes;
  st.f_namemax = SQUASHFS_NAME_LEN;
  server->api.replyStatfs(req, &st);
}

fuse_lowlevel_ops serverOperations(bool xattrs) {
  fuse_lowlevel_ops ops{};
  ops.init = opInit;
  ops.lookup = opLookup;
  ops.getattr = opGetattr;
  ops.open = opOpen;
  ops.read = opRead;
  ops.release = opRelease;
  ops.opendir = opOpendir;
  ops.readdir = opReaddir;
  ops.readdirplus = opReaddirplus;
  ops.releasedir = opReleasedir;
  ops.readlink = opReadlink;
  ops.statfs = opStatfs;
  // forget: inode numbers are stateless (libfuse answers nothing for us).
  if (xattrs) {
    // Without extended attributes in the image the operations stay out: libfuse answers
    // ENOSYS once, and the kernel stops asking. Otherwise the overlay on top would query every
    // file it looks up for its user.overlay.* attributes, each a round trip to us.
    ops.getxattr = opGetxattr;
    ops.listxattr = opListxattr;
  }
  return ops;
}

// The server child, with its copy of the opened image `fs`: never returns.
[[noreturn]] void serve(const Api& api, const sqfs& fs, int fuseFd) {
  ::prctl(PR_SET_NAME, "berth-squashfs");
  size_t blockSize = fs.sb.block_size;
  Server state{.api = api,
               .fs = fs,
               .metadata = {},
               .blockSize = blockSize,
               .inodes = {.root = api.inodeRoot(const_cast<sqfs*>(&fs))},
               .zeros = std::vector<char>(blockSize),
               .blocks = BlockCache(api, kSquashfsBlockCacheBytes)};
  server = &state;
  // More metadata blocks than libsquashfuse's 8: the inodes and directories of a big tree.
  api.cacheDestroy(&state.fs.md_cache);
  if (api.blockCacheInit(&state.fs.md_cache, kSquashfsMetadataCacheBlocks) != SQFS_OK &&
      api.blockCacheInit(&state.fs.md_cache, 8) != SQFS_OK)
    ::_exit(1);
  char program[] = "berth-squashfs";
  char* argv[] = {program, nullptr};
  fuse_args args = FUSE_ARGS_INIT(1, argv);
  // Without extended attributes in the image the xattr operations stay out (serverOperations).
  fuse_lowlevel_ops ops = serverOperations(fs.xattr_info.xattr_ids != 0);
  fuse_session* session = api.sessionNew(&args, &ops, sizeof(ops), nullptr);
  // "/dev/fd/N": libfuse's convention for a connection the caller has mounted already.
  std::string connection = fmt::format("/dev/fd/{}", fuseFd);
  if (session == nullptr || api.sessionMount(session, connection.c_str()) != 0)
    ::_exit(1);
  Prefetcher prefetcher(api, session);
  state.prefetcher = &prefetcher;
  int status = fuse_server::serveOnThreads(api, session, squashfsServerThreads());
  api.sessionDestroy(session);
  ::_exit(status == 0 ? 0 : 1);
}

}  // namespace

unsigned squashfsServerThreads() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  unsigned count = ::sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  return std::clamp(2 * count, 4u, 32u);
}

Result<sys::ChildProcess> serveSquashfs(int imageFd, int fuseFd) {
  BERTH_ASSIGN(const Api* api, fuse_server::squashfuseLibrary());
  // Opened (superblock, compression, tables) here, where an error can still be reported; the
  // child serves its copy. libsquashfuse reads the caller's fd (pread: shared by the threads).
  sqfs fs{};
  if (api->init(&fs, imageFd, 0) != SQFS_OK)
    return Error("not a squashfs image (libsquashfuse could not open it)");
  pid_t pid = ::fork();
  if (pid == 0)
    serve(*api, fs, fuseFd);
  int forkErrno = errno;
  api->destroy(&fs);  // the parent's copy: the child has its own
  if (pid < 0)
    return Error::fromErrno(forkErrno, "start the squashfs server");
  return sys::ChildProcess(pid);
}

}  // namespace berth::container
