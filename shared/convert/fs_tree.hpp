// FsTree: the merged file tree of an image, in memory: metadata only, never file data.
//
// squashfs writes every inode and directory after the data, so the whole tree is kept until
// the end; file contents stream straight to the image and are referred to by FsInode::dataId.
// Several FsNodes may share one FsInode: that is a hard link.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/convert/layer_reader.hpp"

namespace berth::convert {

struct FsInode {
  EntryType type = EntryType::kDirectory;  // never kHardlink
  uint32_t mode = 0755;
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime = 0;
  int64_t size = 0;
  std::string symlinkTarget;
  uint32_t devMajor = 0;
  uint32_t devMinor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
  uint32_t nlink = 0;   // tree nodes naming this inode; set by LayerMerger::finish
  int64_t dataId = -1;  // regular files: the squashfs writer's handle of the data
  // A hard link whose target's entry has not come yet (LayerMerger fills it in).
  bool unresolved = false;
  // Data read from an entry the tree hid, in case a hard link of its layer still names it: the
  // writer keeps it aside and puts it in the image only if the final tree holds this inode.
  bool speculative = false;
};

struct FsNode {
  std::string name;
  FsNode* parent = nullptr;
  std::shared_ptr<FsInode> inode;
  std::map<std::string, std::unique_ptr<FsNode>> children;  // sorted like strcmp
  int layer = -1;               // index (top-down) of the layer that defined this path
  bool whiteout = false;        // the path is deleted for layers below `layer`
  int opaqueLayer = -1;         // directory: what layers below this one have under it is hidden
  bool implicit = false;        // directory created as a parent; its own entry not seen yet
  bool whiteoutParent = false;  // implicit, and so far only whiteouts lie below it

  bool isDirectory() const { return inode && inode->type == EntryType::kDirectory; }
  std::string path() const;  // "" for the root, "a/b" otherwise
};

class FsTree {
 public:
  FsTree();

  FsNode& root() { return *root_; }
  const FsNode& root() const { return *root_; }

  // The node at a normalised path, or nullptr.
  FsNode* find(std::string_view path);
  const FsNode* find(std::string_view path) const;

  // Calls fn(node) for every node, parents before children, children in name order.
  template <typename Fn>
  void forEach(Fn&& fn) const {
    visit(*root_, fn);
  }

 private:
  template <typename Fn>
  static void visit(const FsNode& node, Fn& fn) {
    fn(node);
    for (const auto& [name, child] : node.children)
      visit(*child, fn);
  }

  std::unique_ptr<FsNode> root_;
};

}  // namespace berth::convert
