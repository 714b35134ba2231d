#include "shared/convert/squashfs_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>
#include <sqfs/xattr_writer.h>

#include "shared/convert/squashfs_internal.hpp"
#include "shared/core/unique_fd.hpp"

namespace berth::convert {

struct SquashfsWriter::Handles {
  SqfsPtr<sqfs_file_t> file;
  SqfsPtr<sqfs_compressor_t> cmp;
  SqfsPtr<sqfs_compressor_t> uncmp;
  SqfsPtr<sqfs_block_writer_t> blockWriter;
  SqfsPtr<sqfs_frag_table_t> fragTable;
  SqfsPtr<sqfs_block_processor_t> processor;
  SqfsPtr<sqfs_id_table_t> ids;
  SqfsPtr<sqfs_xattr_writer_t> xattrs;
  sqfs_super_t super{};
  std::filesystem::path path;
  UniqueFd setAside;  // unnamed file beside the image, opened on first use
  uint64_t setAsideEnd = 0;
};

namespace {

constexpr size_t kCopyBuffer = 256 * 1024;

// An unnamed file in `dir` (gone with its last fd), for data that may never be needed.
Result<UniqueFd> openUnnamedFile(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd)
    return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
    return errnoError(fmt::format("create a temporary file in `{}`", dir.string()));
  // File systems without O_TMPFILE: a named one, removed at once.
  std::string pattern = (dir / ".berth-aside.XXXXXX").string();
  fd.reset(::mkostemp(pattern.data(), O_CLOEXEC));
  if (!fd)
    return errnoError(fmt::format("create a temporary file in `{}`", dir.string()));
  ::unlink(pattern.c_str());
  return fd;
}

}  // namespace

Error sqfsError(int code, std::string_view what) {
  // libsquashfs errors are negative SQFS_ERROR codes; SQFS_ERROR_IO keeps errno.
  switch (code) {
    case SQFS_ERROR_ALLOC:
      return Error(fmt::format("{}: out of memory", what), ENOMEM);
    case SQFS_ERROR_IO:
      return Error::fromErrno(errno ? errno : EIO, what);
    case SQFS_ERROR_OVERFLOW:
      return Error(fmt::format("{}: a size overflows squashfs", what));
    case SQFS_ERROR_ARG_INVALID:
      return Error(fmt::format("{}: invalid argument", what));
    case SQFS_ERROR_COMPRESSOR:
      return Error(fmt::format("{}: compressor failure", what));
    default:
      return Error(fmt::format("{}: libsquashfs error {}", what, code));
  }
}

SquashfsWriter::SquashfsWriter(std::unique_ptr<Handles> handles, Logger log)
    : h_(std::move(handles)), log_(std::move(log)) {}

SquashfsWriter::~SquashfsWriter() {
  // The processor may still reference inodes: destroy it before freeing them. Abandoned before
  // finish() (a conversion that failed), it is flushed first: libsquashfs frees its pending
  // fragment block only then (the output file is discarded anyway).
  if (h_ && h_->processor) {
    (void)sqfs_block_processor_finish(h_->processor.get());
    h_->processor.reset();
  }
  for (sqfs_inode_generic_t* inode : fileInodes_)
    sqfs_free(inode);
}

Result<std::unique_ptr<SquashfsWriter>> SquashfsWriter::create(const std::filesystem::path& path,
                                                               const SquashfsOptions& options,
                                                               Logger log) {
  auto h = std::make_unique<Handles>();
  h->path = path;
  std::string where = fmt::format("squashfs `{}`", path.string());
  h->file.reset(sqfs_open_file(path.c_str(), SQFS_FILE_OPEN_OVERWRITE));
  if (!h->file)
    return errnoError(fmt::format("create {}", where));

  sqfs_compressor_config_t cfg;
  if (int rc = sqfs_compressor_config_init(&cfg, SQFS_COMP_ZSTD, options.blockSize, 0); rc != 0)
    return sqfsError(rc, fmt::format("{}: zstd settings", where));
  cfg.level = static_cast<sqfs_u32>(options.zstdLevel);
  sqfs_compressor_t* raw = nullptr;
  if (int rc = sqfs_compressor_create(&cfg, &raw); rc != 0)
    return sqfsError(rc, fmt::format("{}: zstd level {}", where, options.zstdLevel));
  h->cmp.reset(raw);
  cfg.flags |= SQFS_COMP_FLAG_UNCOMPRESS;
  if (int rc = sqfs_compressor_create(&cfg, &raw); rc != 0)
    return sqfsError(rc, fmt::format("{}: zstd decompressor", where));
  h->uncmp.reset(raw);

  if (int rc = sqfs_super_init(&h->super, options.blockSize, options.mkfsTime, SQFS_COMP_ZSTD);
      rc != 0)
    return sqfsError(rc, fmt::format("{}: superblock", where));
  if (int rc = sqfs_super_write(&h->super, h->file.get()); rc != 0)
    return sqfsError(rc, fmt::format("write {}", where));
  int written = h->cmp->write_options(h->cmp.get(), h->file.get());
  if (written < 0)
    return sqfsError(written, fmt::format("write {}", where));
  if (written > 0)
    h->super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;

  h->blockWriter.reset(sqfs_block_writer_create(h->file.get(), 4096, 0));
  h->fragTable.reset(sqfs_frag_table_create(0));
  h->ids.reset(sqfs_id_table_create(0));
  h->xattrs.reset(sqfs_xattr_writer_create(0));
  if (!h->blockWriter || !h->fragTable || !h->ids || !h->xattrs)
    return Error(fmt::format("{}: out of memory", where), ENOMEM);

  unsigned workers = options.workers;
  if (workers == 0)
    workers = std::max(1u, std::thread::hardware_concurrency());
  sqfs_block_processor_desc_t desc{};
  desc.size = sizeof(desc);
  desc.max_block_size = options.blockSize;
  desc.num_workers = workers;
  desc.max_backlog = workers * 8;  // bounds memory: backlog x block size in flight
  desc.cmp = h->cmp.get();
  desc.wr = h->blockWriter.get();
  desc.tbl = h->fragTable.get();
  desc.file = h->file.get();
  desc.uncmp = h->uncmp.get();
  sqfs_block_processor_t* processor = nullptr;
  if (int rc = sqfs_block_processor_create_ex(&desc, &processor); rc != 0)
    return sqfsError(rc, fmt::format("{}: block processor", where));
  h->processor.reset(processor);
  return std::unique_ptr<SquashfsWriter>(new SquashfsWriter(std::move(h), std::move(log)));
}

Status SquashfsWriter::beginFile(FsInode& inode) {
  fileInodes_.push_back(nullptr);
  inode.dataId = static_cast<int64_t>(fileInodes_.size() - 1);
  if (inode.speculative) {
    if (!h_->setAside) {
      std::filesystem::path dir = h_->path.parent_path();
      BERTH_ASSIGN(h_->setAside, openUnnamedFile(dir.empty() ? "." : dir));
    }
    current_ = &setAside_[inode.dataId];
    current_->offset = h_->setAsideEnd;
    return okStatus();
  }
  current_ = nullptr;
  if (int rc =
          sqfs_block_processor_begin_file(h_->processor.get(), &fileInodes_.back(), nullptr, 0);
      rc != 0)
    return sqfsError(rc, "squashfs: begin file");
  return okStatus();
}

Status SquashfsWriter::setAside(const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(h_->setAside.get(), bytes, size, static_cast<off_t>(h_->setAsideEnd));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return errnoError("squashfs: keep the data of a hidden file aside");
    bytes += n;
    size -= static_cast<size_t>(n);
    h_->setAsideEnd += static_cast<uint64_t>(n);
    current_->size += static_cast<uint64_t>(n);
    stats_.setAsideBytes += static_cast<uint64_t>(n);
  }
  return okStatus();
}

Status SquashfsWriter::append(const void* data, size_t size) {
  if (current_ != nullptr)
    return setAside(data, size);
  stats_.inputBytes += size;
  if (int rc = sqfs_block_processor_append(h_->processor.get(), data, size); rc != 0)
    return sqfsError(rc, "squashfs: write file data");
  return okStatus();
}

Status SquashfsWriter::endFile() {
  if (std::exchange(current_, nullptr) != nullptr)
    return okStatus();
  if (int rc = sqfs_block_processor_end_file(h_->processor.get()); rc != 0)
    return sqfsError(rc, "squashfs: end file");
  return okStatus();
}

Status SquashfsWriter::writeSetAside(const FsTree& tree) {
  if (setAside_.empty())
    return okStatus();
  std::vector<FsInode*> needed;
  std::unordered_set<const FsInode*> seen;
  tree.forEach([&](const FsNode& node) {
    FsInode* inode = node.inode.get();
    if (inode->speculative && setAside_.count(inode->dataId) != 0 && seen.insert(inode).second)
      needed.push_back(inode);
  });
  std::vector<char> buffer(kCopyBuffer);
  for (FsInode* inode : needed) {
    const SetAside& data = setAside_.at(inode->dataId);
    // Into the slot the tree already refers to (deque elements never move).
    if (int rc = sqfs_block_processor_begin_file(h_->processor.get(), &fileInodes_[inode->dataId],
                                                 nullptr, 0);
        rc != 0)
      return sqfsError(rc, "squashfs: begin file");
    for (uint64_t done = 0; done < data.size;) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), data.size - done));
      ssize_t n =
          ::pread(h_->setAside.get(), buffer.data(), want, static_cast<off_t>(data.offset + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return errnoError("squashfs: read back the data of a hidden file");
      BERTH_TRY(append(buffer.data(), static_cast<size_t>(n)));
      done += static_cast<uint64_t>(n);
    }
    BERTH_TRY(endFile());
    stats_.setAsideUsed += data.size;
  }
  setAside_.clear();
  h_->setAside.reset();
  return okStatus();
}

Status SquashfsWriter::finish(const FsTree& tree) {
  std::string where = fmt::format("squashfs `{}`", h_->path.string());
  BERTH_TRY(writeSetAside(tree).withContext(where));
  if (int rc = sqfs_block_processor_finish(h_->processor.get()); rc != 0)
    return sqfsError(rc, fmt::format("{}: write file data", where));

  SquashfsTables tables{h_->file.get(), h_->cmp.get(), h_->ids.get(), h_->xattrs.get(), &h_->super};
  BERTH_ASSIGN(TreeWriteResult written, writeSquashfsTree(tree, fileInodes_, tables, log_));
  stats_.inodes = written.inodeCount;
  stats_.xattrsDropped = written.xattrsDropped;

  sqfs_file_t* file = h_->file.get();
  if (int rc = sqfs_frag_table_write(h_->fragTable.get(), file, &h_->super, h_->cmp.get()); rc)
    return sqfsError(rc, fmt::format("{}: fragment table", where));
  if (int rc = sqfs_dir_writer_write_export_table(written.dirWriter.get(), file, h_->cmp.get(),
                                                  written.rootInodeNumber, written.rootInodeRef,
                                                  &h_->super);
      rc)
    return sqfsError(rc, fmt::format("{}: export table", where));
  if (int rc = sqfs_id_table_write(h_->ids.get(), file, &h_->super, h_->cmp.get()); rc)
    return sqfsError(rc, fmt::format("{}: id table", where));
  if (int rc = sqfs_xattr_writer_flush(h_->xattrs.get(), file, &h_->super, h_->cmp.get()); rc)
    return sqfsError(rc, fmt::format("{}: xattr table", where));

  h_->super.bytes_used = file->get_size(file);
  if (int rc = sqfs_super_write(&h_->super, file); rc)
    return sqfsError(rc, fmt::format("{}: superblock", where));
  // Loop devices want a multiple of 4096 bytes.
  sqfs_u64 size = file->get_size(file);
  if (size % 4096 != 0) {
    char zeros[4096] = {};
    if (int rc = file->write_at(file, size, zeros, 4096 - size % 4096); rc)
      return sqfsError(rc, fmt::format("{}: padding", where));
  }
  stats_.imageBytes = file->get_size(file);
  h_->processor.reset();
  h_->file.reset();  // closes the file
  return okStatus();
}

}  // namespace berth::convert
