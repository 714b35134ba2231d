// SquashfsWriter: an FsTree and streamed file data -> one squashfs image, with libsquashfs 1.2.
//
// File data is appended as it is read (block compression on `workers` threads); the tree's
// inodes and directories are written at the end, when the tree is final. Data of a speculative
// inode (FsInode::speculative) goes to an unnamed file beside the image instead, and into the
// image at finish() only if the final tree names that inode. The writer writes to the path it
// is given: atomic placement (temp file, fsync, rename) is AtomicOutput's job.
// See shared/design/LIBSQUASHFS.md for the call sequence this follows.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <unordered_map>

#include "shared/convert/fs_tree.hpp"
#include "shared/core/log.hpp"
#include "shared/core/result.hpp"

struct sqfs_inode_generic_t;

namespace berth::convert {

struct SquashfsOptions {
  int zstdLevel = 3;  // libsquashfs's own default (15) costs ~20x the CPU for ~15 %
  uint32_t blockSize = 128 * 1024;
  unsigned workers = 0;   // compression threads; 0 = one per online CPU
  uint32_t mkfsTime = 0;  // superblock time (0: reproducible images)
};

struct SquashfsStats {
  uint64_t inputBytes = 0;  // file data fed in
  uint64_t imageBytes = 0;  // size of the finished image
  uint64_t inodes = 0;
  uint64_t xattrsDropped = 0;
  uint64_t setAsideBytes = 0;  // speculative data kept aside
  uint64_t setAsideUsed = 0;   // of which the final tree needed (copied into the image)
};

class SquashfsWriter {
 public:
  static Result<std::unique_ptr<SquashfsWriter>> create(const std::filesystem::path& path,
                                                        const SquashfsOptions& options, Logger log);
  ~SquashfsWriter();
  SquashfsWriter(const SquashfsWriter&) = delete;
  SquashfsWriter& operator=(const SquashfsWriter&) = delete;

  // Streams the data of one regular file; sets inode.dataId.
  Status beginFile(FsInode& inode);
  Status append(const void* data, size_t size);
  Status endFile();

  // Writes inodes, directories and tables for `tree` and completes the image.
  Status finish(const FsTree& tree);

  const SquashfsStats& stats() const { return stats_; }

 private:
  struct Handles;
  class TreeSerializer;
  // Where a speculative file's data lies in the set-aside file.
  struct SetAside {
    uint64_t offset = 0;
    uint64_t size = 0;
  };
  SquashfsWriter(std::unique_ptr<Handles> handles, Logger log);
  Status setAside(const void* data, size_t size);
  // Copies the set-aside data of every speculative inode `tree` names into the image.
  Status writeSetAside(const FsTree& tree);

  std::unique_ptr<Handles> h_;
  Logger log_;
  // Inodes the block processor fills in; it holds the address of each slot, so the slots must
  // never move (deque push_back keeps element addresses).
  std::deque<sqfs_inode_generic_t*> fileInodes_;
  std::unordered_map<int64_t, SetAside> setAside_;  // by dataId
  SetAside* current_ = nullptr;                     // the speculative file being written, if any
  SquashfsStats stats_;
};

}  // namespace berth::convert
