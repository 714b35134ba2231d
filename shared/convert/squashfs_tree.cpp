// The metadata half of a squashfs image: inodes numbered so that children come before their
// directory, written in that order, each directory listing its (strcmp-sorted) children.
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <limits>
#include <unordered_map>

#include <fmt/format.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>
#include <sqfs/xattr_writer.h>

#include "shared/convert/squashfs_internal.hpp"

namespace berth::convert {
namespace {

// xattr namespaces squashfs can store; others (system.posix_acl_*) are dropped.
constexpr std::string_view kStorableXattrPrefixes[] = {"user.", "trusted.", "security."};

constexpr sqfs_u32 kNoXattr = 0xFFFFFFFF;

struct InodeInfo {
  uint32_t number = 0;
  uint64_t ref = 0;
  bool written = false;
};

uint32_t typeBits(EntryType type) {
  switch (type) {
    case EntryType::kDirectory:
      return S_IFDIR;
    case EntryType::kSymlink:
      return S_IFLNK;
    case EntryType::kCharDevice:
      return S_IFCHR;
    case EntryType::kBlockDevice:
      return S_IFBLK;
    case EntryType::kFifo:
      return S_IFIFO;
    case EntryType::kSocket:
      return S_IFSOCK;
    default:
      return S_IFREG;
  }
}

struct FreeInode {
  void operator()(sqfs_inode_generic_t* inode) const { std::free(inode); }
};
using InodePtr = std::unique_ptr<sqfs_inode_generic_t, FreeInode>;

InodePtr allocInode(size_t payload) {
  auto* raw =
      static_cast<sqfs_inode_generic_t*>(std::calloc(1, sizeof(sqfs_inode_generic_t) + payload));
  if (raw) {
    raw->payload_bytes_available = static_cast<sqfs_u32>(payload);
    raw->payload_bytes_used = static_cast<sqfs_u32>(payload);
  }
  return InodePtr(raw);
}

class TreeSerializer {
 public:
  TreeSerializer(const std::deque<sqfs_inode_generic_t*>& fileInodes, const SquashfsTables& t,
                 const Logger& log, TreeWriteResult& out)
      : fileInodes_(fileInodes), t_(t), log_(log), out_(out) {}

  void number(const FsNode& node) {
    for (const auto& [name, child] : node.children)
      number(*child);
    InodeInfo& info = info_[node.inode.get()];
    if (info.number == 0)
      info.number = ++count_;
  }

  uint32_t count() const { return count_; }

  Status write(const FsNode& node, uint32_t parentNumber) {
    InodeInfo& self = info_[node.inode.get()];
    for (const auto& [name, child] : node.children)
      BERTH_TRY(write(*child, self.number));
    if (self.written)
      return okStatus();  // a hard link: the inode went out with its first name
    const FsInode& inode = *node.inode;
    BERTH_ASSIGN(sqfs_u32 xattrIndex, writeXattrs(node));
    InodePtr owned;
    sqfs_inode_generic_t* out = nullptr;
    switch (inode.type) {
      case EntryType::kDirectory: {
        BERTH_ASSIGN(owned, directoryInode(node, xattrIndex, parentNumber));
        out = owned.get();
        break;
      }
      case EntryType::kRegular: {
        if (inode.dataId >= 0 && static_cast<size_t>(inode.dataId) < fileInodes_.size()) {
          out = fileInodes_[inode.dataId];
        }
        if (out == nullptr)
          return Error(fmt::format("`{}`: file data missing", node.path()));
        if (inode.nlink > 1 || xattrIndex != kNoXattr) {
          sqfs_inode_make_extended(out);
          out->data.file_ext.nlink = inode.nlink;
        }
        break;
      }
      case EntryType::kSymlink: {
        owned = allocInode(inode.symlinkTarget.size());
        if (!owned)
          return Error("out of memory", ENOMEM);
        owned->base.type = SQFS_INODE_SLINK;
        owned->data.slink.nlink = inode.nlink;
        owned->data.slink.target_size = static_cast<sqfs_u32>(inode.symlinkTarget.size());
        std::memcpy(owned->extra, inode.symlinkTarget.data(), inode.symlinkTarget.size());
        out = owned.get();
        break;
      }
      default: {
        owned = allocInode(0);
        if (!owned)
          return Error("out of memory", ENOMEM);
        bool device = inode.type == EntryType::kCharDevice || inode.type == EntryType::kBlockDevice;
        if (device) {
          owned->base.type =
              inode.type == EntryType::kCharDevice ? SQFS_INODE_CDEV : SQFS_INODE_BDEV;
          owned->data.dev.nlink = inode.nlink;
          // The kernel's new_encode_dev().
          owned->data.dev.devno =
              (inode.devMinor & 0xff) | (inode.devMajor << 8) | ((inode.devMinor & ~0xffu) << 12);
        } else {
          owned->base.type = inode.type == EntryType::kFifo ? SQFS_INODE_FIFO : SQFS_INODE_SOCKET;
          owned->data.ipc.nlink = inode.nlink;
        }
        out = owned.get();
        break;
      }
    }
    if (xattrIndex != kNoXattr && inode.type != EntryType::kDirectory) {
      sqfs_inode_make_extended(out);
      sqfs_inode_set_xattr_index(out, xattrIndex);
    }
    BERTH_TRY(fillBase(*out, inode, self.number, node));
    sqfs_u64 block = 0;
    sqfs_u32 offset = 0;
    sqfs_meta_writer_get_position(out_.inodeWriter.get(), &block, &offset);
    self.ref = (block << 16) | offset;
    if (int rc = sqfs_meta_writer_write_inode(out_.inodeWriter.get(), out); rc)
      return sqfsError(rc, fmt::format("write inode of `/{}`", node.path()));
    self.written = true;
    return okStatus();
  }

  const InodeInfo& info(const FsNode& node) { return info_[node.inode.get()]; }

 private:
  Result<sqfs_u32> writeXattrs(const FsNode& node) {
    const auto& xattrs = node.inode->xattrs;
    if (xattrs.empty())
      return kNoXattr;
    sqfs_xattr_writer_t* xw = t_.xattrs;
    if (int rc = sqfs_xattr_writer_begin(xw, 0); rc)
      return sqfsError(rc, "xattrs");
    size_t kept = 0;
    for (const auto& [key, value] : xattrs) {
      bool storable = false;
      for (std::string_view prefix : kStorableXattrPrefixes)
        storable = storable || key.compare(0, prefix.size(), prefix) == 0;
      if (!storable) {
        ++out_.xattrsDropped;
        log_.verbose("`/{}`: xattr `{}` dropped (squashfs cannot store it)", node.path(), key);
        continue;
      }
      if (int rc = sqfs_xattr_writer_add(xw, key.c_str(), value.data(), value.size()); rc)
        return sqfsError(rc, fmt::format("`/{}`: xattr `{}`", node.path(), key));
      ++kept;
    }
    sqfs_u32 index = kNoXattr;
    if (int rc = sqfs_xattr_writer_end(xw, &index); rc)
      return sqfsError(rc, "xattrs");
    return kept == 0 ? kNoXattr : index;
  }

  Result<InodePtr> directoryInode(const FsNode& node, sqfs_u32 xattrIndex, uint32_t parent) {
    sqfs_dir_writer_t* dw = out_.dirWriter.get();
    if (int rc = sqfs_dir_writer_begin(dw, 0); rc)
      return sqfsError(rc, "directory");
    size_t subdirs = 0;
    for (const auto& [name, child] : node.children) {
      const InodeInfo& ci = info_[child->inode.get()];
      uint32_t mode = typeBits(child->inode->type) | (child->inode->mode & 07777);
      if (child->isDirectory())
        ++subdirs;
      if (int rc = sqfs_dir_writer_add_entry(dw, name.c_str(), ci.number, ci.ref,
                                             static_cast<sqfs_u16>(mode));
          rc)
        return sqfsError(rc, fmt::format("directory `/{}`: entry `{}`", node.path(), name));
    }
    if (int rc = sqfs_dir_writer_end(dw); rc)
      return sqfsError(rc, fmt::format("directory `/{}`", node.path()));
    InodePtr inode(sqfs_dir_writer_create_inode(dw, subdirs + 2, xattrIndex, parent));
    if (!inode)
      return Error("out of memory", ENOMEM);
    return inode;
  }

  Status fillBase(sqfs_inode_generic_t& out, const FsInode& inode, uint32_t number,
                  const FsNode& node) {
    out.base.mode = static_cast<sqfs_u16>(typeBits(inode.type) | (inode.mode & 07777));
    out.base.inode_number = number;
    int64_t mtime = std::clamp<int64_t>(inode.mtime, 0, std::numeric_limits<uint32_t>::max());
    out.base.mod_time = static_cast<sqfs_u32>(mtime);
    if (int rc = sqfs_id_table_id_to_index(t_.ids, inode.uid, &out.base.uid_idx); rc)
      return sqfsError(rc, fmt::format("`/{}`: uid {}", node.path(), inode.uid));
    if (int rc = sqfs_id_table_id_to_index(t_.ids, inode.gid, &out.base.gid_idx); rc)
      return sqfsError(rc, fmt::format("`/{}`: gid {}", node.path(), inode.gid));
    return okStatus();
  }

  const std::deque<sqfs_inode_generic_t*>& fileInodes_;
  SquashfsTables t_;
  const Logger& log_;
  TreeWriteResult& out_;
  std::unordered_map<const FsInode*, InodeInfo> info_;
  uint32_t count_ = 0;
};

}  // namespace

Result<TreeWriteResult> writeSquashfsTree(const FsTree& tree,
                                          const std::deque<sqfs_inode_generic_t*>& fileInodes,
                                          const SquashfsTables& t, const Logger& log) {
  TreeWriteResult result;
  result.inodeWriter.reset(sqfs_meta_writer_create(t.file, t.cmp, 0));
  result.dirMetaWriter.reset(
      sqfs_meta_writer_create(t.file, t.cmp, SQFS_META_WRITER_KEEP_IN_MEMORY));
  if (!result.inodeWriter || !result.dirMetaWriter)
    return Error("squashfs: out of memory", ENOMEM);
  result.dirWriter.reset(
      sqfs_dir_writer_create(result.dirMetaWriter.get(), SQFS_DIR_WRITER_CREATE_EXPORT_TABLE));
  if (!result.dirWriter)
    return Error("squashfs: out of memory", ENOMEM);

  t.super->inode_table_start = t.file->get_size(t.file);
  TreeSerializer serializer(fileInodes, t, log, result);
  serializer.number(tree.root());
  BERTH_TRY(serializer.write(tree.root(), serializer.count() + 1));

  if (int rc = sqfs_meta_writer_flush(result.inodeWriter.get()); rc)
    return sqfsError(rc, "squashfs: inode table");
  if (int rc = sqfs_meta_writer_flush(result.dirMetaWriter.get()); rc)
    return sqfsError(rc, "squashfs: directory table");
  const InodeInfo& root = serializer.info(tree.root());
  t.super->root_inode_ref = root.ref;
  t.super->directory_table_start = t.file->get_size(t.file);
  if (int rc = sqfs_meta_write_write_to_file(result.dirMetaWriter.get()); rc)
    return sqfsError(rc, "squashfs: directory table");
  t.super->inode_count = serializer.count();
  result.rootInodeNumber = root.number;
  result.rootInodeRef = root.ref;
  result.inodeCount = serializer.count();
  return result;
}

}  // namespace berth::convert
