// The FUSE server's loop on several threads: leader and followers.
#pragma once

#include "shared/container/squashfs_fuse_api.hpp"

namespace berth::container::fuse_server {

// Serves `session` until the connection goes away, on up to `maxThreads` threads; the
// session's error, or 0.
//
// The session's loop, on up to `maxThreads` threads: leader and followers. One thread (the
// leader) waits for the next request and serves it; it keeps the lead while requests are quick
// (cached data, metadata), so a lone reader's requests meet one busy thread. Before slow work
// (decompressing a block) an operation calls handOff(): a follower, or a new thread, takes the
// lead and reads the next request meanwhile, so parallel readers decompress in parallel.
// (libfuse's own multi-threaded loop hands every request to the thread that waited longest,
// and keeps a spare one: a lone reader's requests alternate between threads.)
[[nodiscard]] int serveOnThreads(const Api& api, fuse_session* session, unsigned maxThreads);

// Lets another server thread take the next request: the calling operation is about to take
// long (decompressing a block). Outside serveOnThreads' threads it does nothing.
void handOffLead();

}  // namespace berth::container::fuse_server
