#include "shared/image/layer_merge.hpp"

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::image {
namespace {

// OCI image-spec layer.md whiteout names.
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
// Other `.wh..wh.` names are aufs bookkeeping (".wh..wh.plnk", ".wh..wh.aufs"): never content.
constexpr std::string_view kAufsMetaPrefix = ".wh..wh.";

std::pair<std::string_view, std::string_view> splitParent(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos)
    return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

bool isDevice(EntryType type) {
  return type == EntryType::kCharDevice || type == EntryType::kBlockDevice;
}

}  // namespace

void LayerMerger::beginLayer(std::string name) {
  ++layer_;
  layerName_ = std::move(name);
}

void LayerMerger::warn(const LayerEntry& entry, std::string_view why) {
  log_.warning("{}: `{}` dropped: {}", layerName_, entry.path, why);
}

bool LayerMerger::hidesFromThisLayer(const FsNode& node) const {
  if (node.whiteout)
    return true;  // deleted by this or an upper layer
  if (!node.isDirectory())
    return true;  // an upper layer (or this one) put a non-directory here
  return node.opaqueLayer >= 0 && node.opaqueLayer < layer_;
}

FsNode* LayerMerger::parentFor(std::string_view path, bool create) {
  FsNode* node = &tree_.root();
  if (hidesFromThisLayer(*node))
    return nullptr;
  auto [parentPath, name] = splitParent(path);
  if (parentPath.empty())
    return node;
  for (const std::string& part : split(parentPath, '/')) {
    auto it = node->children.find(part);
    if (it == node->children.end()) {
      if (!create)
        return node;  // nothing above hides the rest: the path is free
      FsNode& child = insert(*node, part);
      child.inode = std::make_shared<FsInode>();
      child.implicit = true;
      node = &child;
      continue;
    }
    node = it->second.get();
    if (hidesFromThisLayer(*node))
      return nullptr;
  }
  return node;
}

bool LayerMerger::finalVisible(const FsNode* parent, std::string_view name,
                               const LayerEntry& entry) const {
  if (parent == nullptr)
    return false;
  const FsNode* node = nullptr;
  if (name.empty()) {
    node = parent;  // the root itself
  } else {
    auto it = parent->children.find(std::string(name));
    if (it == parent->children.end())
      return true;
    node = it->second.get();
  }
  bool fillsImplicit = node->implicit && entry.type == EntryType::kDirectory;
  return node->layer == layer_ || fillsImplicit;
}

FsNode& LayerMerger::insert(FsNode& parent, std::string_view name) {
  auto node = std::make_unique<FsNode>();
  node->name = std::string(name);
  node->parent = &parent;
  node->layer = layer_;
  auto& slot = parent.children[node->name];
  if (slot)
    replaced_.push_back(std::move(slot));
  slot = std::move(node);
  return *slot;
}

std::shared_ptr<FsInode> LayerMerger::makeInode(const LayerEntry& entry) {
  auto inode = std::make_shared<FsInode>();
  inode->type = entry.type;
  inode->mode = entry.mode;
  if (!options_.keepSetuid && entry.type != EntryType::kDirectory && (entry.mode & 06000)) {
    // setgid on a directory only sets the group of new files; on anything else both bits
    // are privilege escalation waiting for a nosuid mount to be forgotten.
    inode->mode &= ~06000u;
    ++stats_.setuidStripped;
    log_.verbose("{}: `{}`: setuid/setgid bits removed", layerName_, entry.path);
  }
  inode->uid = entry.uid;
  inode->gid = entry.gid;
  inode->mtime = entry.mtime;
  inode->size = entry.size;
  inode->symlinkTarget = entry.linkTarget;
  inode->devMajor = entry.devMajor;
  inode->devMinor = entry.devMinor;
  inode->xattrs = entry.xattrs;
  return inode;
}

void LayerMerger::applyWhiteout(const LayerEntry& entry, std::string_view name) {
  FsNode* parent = parentFor(entry.path, /*create=*/true);
  if (parent == nullptr) {
    ++stats_.hidden;
    return;
  }
  if (name == kOpaqueMarker) {
    if (parent->opaqueLayer < 0)
      parent->opaqueLayer = layer_;
    return;
  }
  if (name.substr(0, kAufsMetaPrefix.size()) == kAufsMetaPrefix)
    return;
  std::string target(name.substr(kWhiteoutPrefix.size()));
  if (target.empty() || target == "." || target == "..") {
    warn(entry, "malformed whiteout");
    ++stats_.rejected;
    return;
  }
  auto it = parent->children.find(target);
  if (it == parent->children.end()) {
    FsNode& marker = insert(*parent, target);
    marker.whiteout = true;
    return;
  }
  FsNode& node = *it->second;
  // An upper layer re-created the path: keep it, but nothing from below may show through.
  if (node.layer < layer_ && node.isDirectory() && node.opaqueLayer < 0)
    node.opaqueLayer = layer_;
}

std::shared_ptr<FsInode> LayerMerger::applyEntry(const LayerEntry& entry, FsNode& parent,
                                                 std::string_view name) {
  FsNode* existing = nullptr;
  if (name.empty()) {
    existing = &parent;
  } else if (auto it = parent.children.find(std::string(name)); it != parent.children.end()) {
    existing = it->second.get();
  }
  if (entry.type == EntryType::kDirectory && existing != nullptr && existing->isDirectory() &&
      !existing->whiteout) {
    // A directory again (its own entry after its children, or a duplicate): new metadata,
    // same children.
    existing->inode = makeInode(entry);
    existing->implicit = false;
    return existing->inode;
  }
  if (name.empty()) {
    warn(entry, fmt::format("the root must be a directory, not a {}", entryTypeName(entry.type)));
    ++stats_.rejected;
    return nullptr;
  }
  FsNode& node = insert(parent, name);
  if (entry.type == EntryType::kHardlink) {
    linkTo(&node, entry.linkTarget);
    return nullptr;
  }
  node.inode = makeInode(entry);
  return node.inode;
}

void LayerMerger::linkTo(FsNode* node, const std::string& target) {
  const FsNode* found = tree_.find(target);
  if (found != nullptr && found != node && found->layer == layer_ && !found->whiteout &&
      !found->implicit && found->inode) {
    if (found->isDirectory()) {
      log_.warning("{}: `{}` dropped: hard link to directory `{}`", layerName_, node->path(),
                   target);
      ++stats_.rejected;
      node->whiteout = true;  // removed by finish()
      return;
    }
    node->inode = found->inode;
    return;
  }
  // The target is in a lower layer (or later in this one): wait for it.
  pending_[target].push_back(node);
}

MergeDecision LayerMerger::add(const LayerEntry& entry) {
  ++stats_.entries;
  if (!entry.rejected.empty()) {
    warn(entry, entry.rejected);
    ++stats_.rejected;
    return {};
  }
  if (isDevice(entry.type) && !options_.keepDevices) {
    warn(entry, fmt::format("{} {}:{} (device nodes are never taken from images)",
                            entryTypeName(entry.type), entry.devMajor, entry.devMinor));
    ++stats_.rejected;
    return {};
  }
  auto [parentPath, name] = splitParent(entry.path);
  if (name.substr(0, kWhiteoutPrefix.size()) == kWhiteoutPrefix) {
    applyWhiteout(entry, name);
    return {};
  }

  std::shared_ptr<FsInode> inode;
  if (finalVisible(parentFor(entry.path, false), name, entry)) {
    FsNode* parent = parentFor(entry.path, true);
    inode = applyEntry(entry, *parent, name);
  } else {
    ++stats_.hidden;
  }

  // Hard links of upper layers (or earlier in this one) waiting for this path.
  auto waiting = pending_.find(entry.path);
  if (waiting != pending_.end() && entry.type != EntryType::kDirectory) {
    std::vector<FsNode*> nodes = std::move(waiting->second);
    pending_.erase(waiting);
    if (entry.type == EntryType::kHardlink) {
      for (FsNode* node : nodes)
        linkTo(node, entry.linkTarget);
    } else {
      if (!inode)
        inode = makeInode(entry);
      for (FsNode* node : nodes)
        node->inode = inode;
    }
  }
  if (!inode || inode->type != EntryType::kRegular)
    return {};
  ++stats_.filesRead;
  return MergeDecision{inode.get()};
}

void LayerMerger::removeMarkers(FsNode& node) {
  for (auto it = node.children.begin(); it != node.children.end();) {
    FsNode& child = *it->second;
    if (child.whiteout || !child.inode) {
      it = node.children.erase(it);
      continue;
    }
    ++child.inode->nlink;
    removeMarkers(child);
    ++it;
  }
}

void LayerMerger::finish() {
  for (auto& [target, nodes] : pending_) {
    for (FsNode* node : nodes) {
      if (node->inode)
        continue;
      log_.warning("`{}` dropped: hard link to `{}`, which no layer contains", node->path(),
                   target);
      ++stats_.rejected;
    }
  }
  pending_.clear();
  ++tree_.root().inode->nlink;
  removeMarkers(tree_.root());
  replaced_.clear();
}

}  // namespace berth::image
