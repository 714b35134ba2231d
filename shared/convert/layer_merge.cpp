#include "shared/convert/layer_merge.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "shared/convert/layer_merge_paths.hpp"
#include "shared/core/strings.hpp"

namespace berth::convert {
namespace {

// OCI image-spec layer.md whiteout names.
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
// Other `.wh..wh.` names are aufs bookkeeping (".wh..wh.plnk", ".wh..wh.aufs"): never content.
constexpr std::string_view kAufsMetaPrefix = ".wh..wh.";
// Device nodes named in the summary line of dropped ones.
constexpr size_t kDeviceSample = 3;

bool isDevice(EntryType type) {
  return type == EntryType::kCharDevice || type == EntryType::kBlockDevice;
}

using merge_detail::splitParent;
using merge_detail::upperOf;

}  // namespace

void LayerMerger::beginLayer(std::string name) {
  ++layer_;
  layerName_ = std::move(name);
  layerInodes_.clear();
}

void LayerMerger::warn(const LayerEntry& entry, std::string_view why) {
  log_.warning("{}: `{}` dropped: {}", layerName_, entry.path, why);
}

bool LayerMerger::hidesFromThisLayer(const FsNode& node) const {
  if (node.whiteout)
    return node.layer < layer_;  // deleted by an upper layer (this one's apply to lower ones)
  if (!node.isDirectory())
    return true;  // an upper layer (or this one) put a non-directory here
  return node.opaqueLayer >= 0 && node.opaqueLayer < layer_;
}

FsNode* LayerMerger::parentFor(std::string_view path, ParentUse use) {
  FsNode* node = &tree_.root();
  auto [parentPath, name] = splitParent(path);
  if (parentPath.empty())
    return node;
  for (const std::string& part : split(parentPath, '/')) {
    auto it = node->children.find(part);
    if (it == node->children.end()) {
      node = &implicitDirectory(*node, part, layer_);
      node->whiteoutParent = use == ParentUse::kWhiteout;
      continue;
    }
    node = it->second.get();
    if (use == ParentUse::kEntry)
      node->whiteoutParent = false;  // an entry of this layer lies below: the directory exists
    if (node->whiteout && node->layer == layer_)
      reviveAsDirectory(*node);  // deleted for lower layers, made again by this one
    if (hidesFromThisLayer(*node))
      return nullptr;
  }
  return node;
}

bool LayerMerger::finalVisible(std::string_view path, const LayerEntry& entry) {
  FsNode* node = &tree_.root();
  auto [parentPath, name] = splitParent(path);
  if (!parentPath.empty()) {
    for (const std::string& part : split(parentPath, '/')) {
      auto it = node->children.find(part);
      if (it == node->children.end())
        return true;                       // nothing above hides the rest: the path is free
      it->second->whiteoutParent = false;  // an entry of this layer lies below
      node = it->second.get();
      // Deleted for lower layers, made again as a parent of this entry, even one that an upper
      // layer's whiteout further down hides.
      if (node->whiteout && node->layer == layer_)
        reviveAsDirectory(*node);
      if (hidesFromThisLayer(*node))
        return false;
    }
  }
  if (!name.empty()) {
    auto it = node->children.find(std::string(name));
    if (it == node->children.end())
      return true;
    node = it->second.get();
  }
  // A directory that upper layers only made as a parent takes this layer's directory entry,
  // or its symlink (upper entries then move to where the link points).
  bool fillsImplicit =
      node->implicit && (entry.type == EntryType::kDirectory || entry.type == EntryType::kSymlink);
  return node->layer == layer_ || fillsImplicit;
}

void LayerMerger::reviveAsDirectory(FsNode& marker) {
  marker.whiteout = false;
  marker.inode = std::make_shared<FsInode>();  // a new directory: no lower entry fills it
  marker.opaqueLayer = layer_;
  // Not a directory that upper layers only made as a parent (the marker may have been one,
  // applyWhiteout): a lower layer's entry for the path (a directory's metadata, a symlink) was
  // deleted by this layer's whiteout; this layer's own entry for it still applies.
  marker.implicit = false;
}

FsNode& LayerMerger::implicitDirectory(FsNode& parent, std::string_view name, int layer) {
  FsNode& node = insert(parent, name);
  node.layer = layer;
  node.inode = std::make_shared<FsInode>();
  node.implicit = true;
  return node;
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
  if (options_.stripSetuid && entry.type != EntryType::kDirectory && (entry.mode & 06000)) {
    // setgid on a directory only sets the group of new files: kept.
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
  auto isCapability = [](const auto& xattr) { return xattr.first == "security.capability"; };
  if (options_.stripSetuid && std::erase_if(inode->xattrs, isCapability) > 0) {
    // File capabilities are privileges as setuid bits are.
    ++stats_.capabilitiesStripped;
    log_.verbose("{}: `{}`: file capabilities removed", layerName_, entry.path);
  }
  return inode;
}

void LayerMerger::applyWhiteout(const LayerEntry& entry, std::string_view name) {
  FsNode* parent = parentFor(entry.path, ParentUse::kWhiteout);
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
  if (node.whiteoutParent && node.implicit) {
    // Only other whiteouts lie below: this layer deletes the path for every layer below. The
    // upper layers' whiteouts below it stay: they still delete what this layer makes there
    // again after its whiteout (reviveAsDirectory).
    node.whiteout = true;
    node.layer = layer_;
    return;
  }
  // An upper layer (or this one: whiteouts apply to lower layers only) re-created the path: keep
  // it, but nothing from below may show through. A
  // directory upper layers made only as a parent is new from here on: this layer's own entry
  // for it (made after the whiteout) still applies, lower layers' do not.
  if (node.layer <= layer_ && node.isDirectory()) {
    if (node.opaqueLayer < 0)
      node.opaqueLayer = layer_;
    if (node.implicit && node.layer < layer_) {
      node.implicit = false;
      node.layer = layer_;
    }
  }
}

FsNode* LayerMerger::placeEntry(const LayerEntry& entry, FsNode& parent, std::string_view name) {
  FsNode* existing = nullptr;
  if (name.empty()) {
    existing = &parent;
  } else if (auto it = parent.children.find(std::string(name)); it != parent.children.end()) {
    existing = it->second.get();
  }
  bool existingDir = existing != nullptr && existing->isDirectory() && !existing->whiteout;
  if (entry.type == EntryType::kDirectory && existingDir) {
    // A directory again (its own entry after its children, a duplicate, or the entry of a
    // directory upper layers made as a parent): new metadata, same children.
    existing->inode = makeInode(entry);
    existing->implicit = false;
    return nullptr;
  }
  if (name.empty()) {
    warn(entry, fmt::format("the root must be a directory, not a {}", entryTypeName(entry.type)));
    ++stats_.rejected;
    return nullptr;
  }
  if (entry.type == EntryType::kSymlink && existingDir && existing->implicit &&
      existing->layer < layer_) {
    auto slot = parent.children.find(std::string(name));
    std::unique_ptr<FsNode> dir = std::move(slot->second);
    parent.children.erase(slot);
    FsNode& link = insert(parent, name);
    redirectBelowSymlink(parent, std::move(dir), entry);
    return &link;
  }
  bool deletedHere = existing != nullptr && existing->whiteout && existing->layer == layer_;
  FsNode& node = insert(parent, name);
  if (deletedHere)
    node.opaqueLayer = layer_;  // deleted for lower layers, then made again by this one
  return &node;
}

std::shared_ptr<FsInode> LayerMerger::linkTarget(const LayerEntry& entry) {
  const std::string& target = entry.linkTarget;
  if (target == entry.path) {
    warn(entry, "hard link to itself");
    ++stats_.rejected;
    return nullptr;
  }
  if (auto it = layerInodes_.find(target); it != layerInodes_.end())
    return it->second;  // earlier in this layer, visible or not
  if (auto resolved = throughLayerSymlink(target)) {
    if (auto it = layerInodes_.find(*resolved); it != layerInodes_.end())
      return it->second;  // named through a symlink of this layer
  }
  const FsNode* found = tree_.find(target);
  if (found != nullptr && found->layer == layer_ && found->isDirectory()) {
    warn(entry, fmt::format("hard link to directory `{}`", target));
    ++stats_.rejected;
    return nullptr;
  }
  // The target is in a lower layer: wait for it.
  auto inode = std::make_shared<FsInode>();
  inode->type = EntryType::kRegular;
  inode->unresolved = true;
  pending_.emplace(target, PendingLink{inode, layer_});
  return inode;
}

void LayerMerger::hold(FsNode& node, std::shared_ptr<FsInode> inode) {
  if (inode->unresolved)
    holders_[inode.get()].push_back(&node);
  node.inode = std::move(inode);
}

bool LayerMerger::resolvePending(const std::string& path, const std::shared_ptr<FsInode>& inode) {
  bool named = false;
  auto [it, end] = pending_.equal_range(path);
  while (it != end) {
    if (it->second.layer >= layer_) {
      ++it;
      continue;
    }
    std::shared_ptr<FsInode> waiting = std::move(it->second.inode);
    it = pending_.erase(it);
    named = rebind(waiting, inode) || named;
  }
  return named;
}

bool LayerMerger::rebind(const std::shared_ptr<FsInode>& waiting,
                         const std::shared_ptr<FsInode>& inode) {
  auto held = holders_.find(waiting.get());
  if (held == holders_.end())
    return false;
  std::vector<FsNode*> nodes = std::move(held->second);
  holders_.erase(held);
  bool named = false;
  for (FsNode* node : nodes) {
    if (node->inode != waiting)
      continue;
    hold(*node, inode);
    named = true;
  }
  return named;
}

bool LayerMerger::dropDevice(const LayerEntry& entry) {
  if (!isDevice(entry.type) || options_.keepDevices)
    return false;
  ++stats_.devicesDropped;
  ++stats_.rejected;
  if (stats_.deviceSample.size() < kDeviceSample)
    stats_.deviceSample.push_back("/" + entry.path);
  log_.verbose("{}: `{}` dropped: {} {}:{}", layerName_, entry.path, entryTypeName(entry.type),
               entry.devMajor, entry.devMinor);
  return true;
}

void LayerMerger::replaceDirectoryBelow(const std::string& path) {
  FsNode* node = tree_.find(path);
  if (node == nullptr || node->whiteout || !node->isDirectory())
    return;
  node->opaqueLayer = upperOf(node->opaqueLayer, layer_);
  dropLayerEntries(*node);
}

void LayerMerger::dropLayerEntries(FsNode& dir) {
  for (auto it = dir.children.begin(); it != dir.children.end();) {
    if (it->second->layer == layer_) {
      replaced_.push_back(std::move(it->second));
      it = dir.children.erase(it);
      continue;
    }
    dropLayerEntries(*it->second);
    ++it;
  }
}

MergeDecision LayerMerger::add(const LayerEntry& entry) {
  ++stats_.entries;
  if (!entry.rejected.empty()) {
    warn(entry, entry.rejected);
    ++stats_.rejected;
    return {};
  }
  if (auto resolved = throughLayerSymlink(entry.path)) {
    // Below a symlink an earlier entry of this layer made: where the link points.
    LayerEntry moved = entry;
    moved.path = std::move(*resolved);
    return addResolved(moved);
  }
  return addResolved(entry);
}

MergeDecision LayerMerger::addResolved(const LayerEntry& entry) {
  auto [parentPath, name] = splitParent(entry.path);
  if (name.substr(0, kWhiteoutPrefix.size()) == kWhiteoutPrefix) {
    applyWhiteout(entry, name);
    return {};
  }

  FsNode* node = nullptr;
  bool visible = finalVisible(entry.path, entry);
  if (!visible) {
    ++stats_.hidden;
    if (entry.type != EntryType::kDirectory)
      replaceDirectoryBelow(entry.path);
  } else if (dropDevice(entry)) {
    // Its directories stay, and what lower layers have at its path stays replaced.
    if (FsNode* parent = parentFor(entry.path, ParentUse::kEntry); parent && !name.empty())
      insert(*parent, name).whiteout = true;
    return {};
  } else {
    node = placeEntry(entry, *parentFor(entry.path, ParentUse::kEntry), name);
  }
  if (entry.type == EntryType::kDirectory) {
    if (node != nullptr)
      node->inode = makeInode(entry);  // a new directory (placeEntry updated an existing one)
    layerInodes_.erase(entry.path);
    return {};
  }
  if (!visible && isDevice(entry.type) && !options_.keepDevices)
    return {};
  std::shared_ptr<FsInode> inode =
      entry.type == EntryType::kHardlink ? linkTarget(entry) : makeInode(entry);
  if (!inode) {
    if (node != nullptr)
      node->whiteout = true;  // removed by finish()
    return {};
  }
  if (node != nullptr)
    hold(*node, inode);
  layerInodes_[entry.path] = inode;
  bool named = resolvePending(entry.path, inode);
  if (entry.type == EntryType::kHardlink || inode->type != EntryType::kRegular)
    return {};
  if (node == nullptr && !named) {
    inode->speculative = true;  // hidden: kept aside until the tree is final
  } else {
    ++stats_.filesRead;
  }
  return MergeDecision{inode.get()};
}

void LayerMerger::removeMarkers(FsNode& node) {
  for (auto it = node.children.begin(); it != node.children.end();) {
    FsNode& child = *it->second;
    if (child.whiteout || !child.inode || child.inode->unresolved) {
      it = node.children.erase(it);
      continue;
    }
    removeMarkers(child);
    if (child.whiteoutParent && child.implicit && child.children.empty()) {
      it = node.children.erase(it);  // made only as the parent of whiteouts: no layer has it
      continue;
    }
    ++child.inode->nlink;
    ++it;
  }
}

void LayerMerger::finish() {
  for (auto& [target, waiting] : pending_) {
    auto held = holders_.find(waiting.inode.get());
    if (held == holders_.end())
      continue;
    for (FsNode* node : held->second) {
      auto slot = node->parent->children.find(node->name);
      if (slot == node->parent->children.end() || slot->second.get() != node)
        continue;  // replaced meanwhile
      log_.warning("`{}` dropped: hard link to `{}`, which no layer contains", node->path(),
                   target);
      ++stats_.rejected;
    }
  }
  pending_.clear();
  holders_.clear();
  layerInodes_.clear();
  ++tree_.root().inode->nlink;
  removeMarkers(tree_.root());
  replaced_.clear();
}

}  // namespace berth::convert
