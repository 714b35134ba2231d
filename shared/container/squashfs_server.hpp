// The FUSE server of unprivileged containers.
//
// Without root the kernel will not mount squashfs, so the image is served through FUSE: berth
// mounts the FUSE connection itself (it holds CAP_SYS_ADMIN in its user namespace) and answers
// the kernel's requests in a forked child, on several threads. No server binary is executed;
// libsquashfuse_ll (and libfuse3 with it) is opened the first time an unprivileged container
// starts, so nothing else pays for loading it.
//
// The operations are berth's own, on libsquashfuse's image reading functions:
//  - threads: a leader/followers loop (Workers in the .cpp): one thread reads and serves the
//    requests while they are quick; before a block is decompressed another thread takes the
//    lead, so parallel readers decompress in parallel, while a lone reader's requests stay on
//    one thread. libsquashfuse's image handle is not thread-safe: its metadata (inodes,
//    directories, block lists; cached) is read under a lock, data and fragment blocks are
//    decompressed outside it, into one cache shared by the threads;
//  - round trips: the image never changes, so lookups and attributes are cached by the kernel
//    for ever (negative lookups too), file and directory opens are answered once with ENOSYS
//    (the kernel then opens without asking and keeps the pages), directories are read with
//    READDIRPLUS (the entries' attributes come with the listing: no lookup per file after),
//    symlinks are cached by the kernel, and when a small file packed in a fragment block is
//    read, the other files of that block the kernel has seen listed are pushed into its page
//    cache (FUSE_NOTIFY_STORE): a tree read in directory order costs about one request per
//    fragment block instead of one per file;
//  - copies: reads are answered from the cached blocks themselves (writev), not copied first.
#pragma once

#include <cstddef>

#include "shared/core/result.hpp"
#include "shared/sys/process.hpp"

namespace berth::container {

// Decompressed data and fragment blocks the server keeps, in bytes, shared by its threads (a
// program's pages read out of order would decompress the same blocks again and again).
inline constexpr size_t kSquashfsBlockCacheBytes = 8u << 20;

// Metadata blocks (8 KiB: inodes, directories, block lists) the server keeps (libsquashfuse
// keeps 8; a tree of thousands of files spans hundreds).
inline constexpr size_t kSquashfsMetadataCacheBlocks = 64;

// The most threads the server runs: twice the CPUs it may use (reads wait for the disk too),
// at least 4, at most 32. A thread starts only when a block is to be decompressed and no
// other thread is idle; it stays.
[[nodiscard]] unsigned squashfsServerThreads();

// Serves the squashfs image `imageFd` on the FUSE connection `fuseFd` (mounted by the caller)
// from a child process, until the connection goes away or the child is terminated. The image
// is opened and checked before this returns: a file that is not a squashfs image is an error
// here, not a mount that fails later.
[[nodiscard]] Result<sys::ChildProcess> serveSquashfs(int imageFd, int fuseFd);

}  // namespace berth::container
