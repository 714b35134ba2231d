// How berth's FUSE server numbers inodes for the kernel.
#pragma once

#include "shared/container/squashfs_fuse_api.hpp"

namespace berth::container::fuse_server {

// FUSE inode numbers: the squashfs inode reference (48 bits: metadata block, offset), with
// the root as FUSE_ROOT_ID and reference 0 (never the root's: the superblock precedes the
// inode table) as 2, which no reference can be (inodes are larger than 2 bytes). Stateless:
// every thread maps alike, and the kernel's forgets need no answer.
struct InodeNumbers {
  sqfs_inode_id root = 0;
  fuse_ino_t fuse(sqfs_inode_id id) const {
    if (id == root)
      return FUSE_ROOT_ID;
    return id == 0 ? 2 : static_cast<fuse_ino_t>(id);
  }
  sqfs_inode_id squashfs(fuse_ino_t ino) const {
    if (ino == FUSE_ROOT_ID)
      return root;
    return ino == 2 ? 0 : static_cast<sqfs_inode_id>(ino);
  }
};

}  // namespace berth::container::fuse_server
