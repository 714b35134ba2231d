#include "shared/image/layer_merge.hpp"

#include <algorithm>
#include <deque>
#include <optional>

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::image {
namespace {

// OCI image-spec layer.md whiteout names.
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
// Other `.wh..wh.` names are aufs bookkeeping (".wh..wh.plnk", ".wh..wh.aufs"): never content.
constexpr std::string_view kAufsMetaPrefix = ".wh..wh.";
// Symlinks followed while resolving one path inside the root (the kernel's MAXSYMLINKS).
constexpr int kMaxSymlinkHops = 40;
// Device nodes named in the summary line of dropped ones.
constexpr size_t kDeviceSample = 3;

std::pair<std::string_view, std::string_view> splitParent(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos)
    return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

bool isDevice(EntryType type) {
  return type == EntryType::kCharDevice || type == EntryType::kBlockDevice;
}

std::string joinPath(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts)
    out += (out.empty() ? "" : "/") + part;
  return out;
}

int upperOf(int a, int b) {  // the upper of two opaque layers; -1 is "not opaque"
  return a < 0 ? b : b < 0 ? a : std::min(a, b);
}

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
  const FsNode* node = &tree_.root();
  auto [parentPath, name] = splitParent(path);
  if (!parentPath.empty()) {
    for (const std::string& part : split(parentPath, '/')) {
      auto it = node->children.find(part);
      if (it == node->children.end())
        return true;                       // nothing above hides the rest: the path is free
      it->second->whiteoutParent = false;  // an entry of this layer lies below
      node = it->second.get();
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
    // Only other whiteouts lie below: this layer deletes the path for every layer below.
    node.children.clear();
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

std::string LayerMerger::resolveInRoot(std::string_view base, std::string_view target,
                                       int layer) const {
  std::vector<std::string> parts;
  if (!base.empty() && target.substr(0, 1) != "/")
    parts = split(base, '/');
  auto more = split(target, '/');
  std::deque<std::string> todo(more.begin(), more.end());
  int hops = 0;
  while (!todo.empty()) {
    std::string part = std::move(todo.front());
    todo.pop_front();
    if (part.empty() || part == ".")
      continue;
    if (part == "..") {
      if (!parts.empty())
        parts.pop_back();  // `..` of the root is the root
      continue;
    }
    parts.push_back(std::move(part));
    const FsNode* node = tree_.find(joinPath(parts));
    if (node == nullptr || node->whiteout || !node->inode ||
        node->inode->type != EntryType::kSymlink || node->layer < layer || ++hops > kMaxSymlinkHops)
      continue;
    parts.pop_back();
    const std::string& link = node->inode->symlinkTarget;
    if (link.substr(0, 1) == "/")
      parts.clear();
    auto linkParts = split(link, '/');
    todo.insert(todo.begin(), linkParts.begin(), linkParts.end());
  }
  return joinPath(parts);
}

FsNode* LayerMerger::directoryAt(const std::string& path, int layer) {
  FsNode* node = &tree_.root();
  if (path.empty())
    return node;
  for (const std::string& part : split(path, '/')) {
    auto it = node->children.find(part);
    if (it == node->children.end()) {
      node = &implicitDirectory(*node, part, layer);
      continue;
    }
    node = it->second.get();
    if ((node->whiteout || !node->isDirectory()) && node->layer < layer)
      return nullptr;  // deleted or replaced above the layer whose entries go there
    node->whiteoutParent = false;
    if (node->whiteout) {
      // Deleted by a layer below, then made again as a parent: a new, empty directory.
      node->whiteout = false;
      node->inode = std::make_shared<FsInode>();
      node->opaqueLayer = node->layer;
      node->layer = layer;
    } else if (!node->isDirectory()) {
      return nullptr;
    }
  }
  return node;
}

void LayerMerger::mergeNode(FsNode& into, std::unique_ptr<FsNode> node) {
  auto it = into.children.find(node->name);
  if (it == into.children.end()) {
    node->parent = &into;
    into.children.emplace(node->name, std::move(node));
    return;
  }
  FsNode& existing = *it->second;
  if (existing.isDirectory() && node->isDirectory() && !existing.whiteout) {
    bool takeMetadata = !node->implicit && (existing.implicit || node->layer < existing.layer);
    if (takeMetadata) {
      existing.inode = node->inode;
      existing.implicit = false;
    }
    existing.layer = std::min(existing.layer, node->layer);
    existing.whiteoutParent = existing.whiteoutParent && node->whiteoutParent;
    existing.opaqueLayer = upperOf(existing.opaqueLayer, node->opaqueLayer);
    auto children = std::move(node->children);
    for (auto& [name, child] : children)
      mergeNode(existing, std::move(child));
    replaced_.push_back(std::move(node));
    return;
  }
  // The upper layer's entry wins; a whiteout never hides an entry of its own layer.
  bool wins = node->layer < existing.layer ||
              (node->layer == existing.layer && existing.whiteout && !node->whiteout);
  if (wins) {
    replaced_.push_back(std::move(it->second));
    node->parent = &into;
    it->second = std::move(node);
  } else {
    replaced_.push_back(std::move(node));
  }
}

void LayerMerger::redirectBelowSymlink(FsNode& parent, std::unique_ptr<FsNode> dir,
                                       const LayerEntry& link) {
  std::string base = parent.path();
  std::string from = base.empty() ? dir->name : base + "/" + dir->name;
  std::string to = resolveInRoot(base, link.linkTarget, dir->layer);
  FsNode* target = nullptr;
  bool loops = to == from || to.compare(0, from.size() + 1, from + "/") == 0;
  if (!loops)
    target = directoryAt(to, dir->layer);
  if (target == nullptr) {
    // Deleted or replaced by an upper layer, or not a directory (unpacking would fail).
    ++stats_.hidden;
    replaced_.push_back(std::move(dir));
    return;
  }
  // Links of upper layers may name the moved files by the path they get now (written through
  // the link), even those an upper layer replaced there later.
  std::vector<std::pair<std::string, const FsNode*>> moved;
  if (!pending_.empty())
    collectMoved(*dir, to, moved);
  auto children = std::move(dir->children);
  for (auto& [name, child] : children) {
    if (child->layer == layer_)
      replaced_.push_back(std::move(child));  // this layer's, gone with the directory
    else
      mergeNode(*target, std::move(child));
  }
  target->opaqueLayer = upperOf(target->opaqueLayer, dir->opaqueLayer);
  // Hard links of upper layers that named their target through the link.
  std::string prefix = from + "/";
  std::vector<std::pair<std::string, PendingLink>> rekeyed;
  for (auto it = pending_.lower_bound(prefix);
       it != pending_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    if (it->second.layer == layer_) {
      ++it;  // a link of this layer, before the symlink: named the directory's path
      continue;
    }
    std::string rest = it->first.substr(prefix.size());
    rekeyed.emplace_back(to.empty() ? rest : to + "/" + rest, std::move(it->second));
    it = pending_.erase(it);
  }
  for (auto& [path, waiting] : rekeyed)
    pending_.emplace(std::move(path), std::move(waiting));
  replaced_.push_back(std::move(dir));
  linkMoved(moved);
}

void LayerMerger::collectMoved(const FsNode& dir, const std::string& path,
                               std::vector<std::pair<std::string, const FsNode*>>& out) const {
  for (const auto& [name, child] : dir.children) {
    std::string childPath = path.empty() ? name : path + "/" + name;
    if (child->layer == layer_)
      continue;  // dropped with the directory
    if (child->isDirectory())
      collectMoved(*child, childPath, out);
    else if (!child->whiteout && child->inode && !child->inode->unresolved)
      out.emplace_back(std::move(childPath), child.get());
  }
}

void LayerMerger::linkMoved(const std::vector<std::pair<std::string, const FsNode*>>& moved) {
  for (const auto& [path, node] : moved) {
    auto [it, end] = pending_.equal_range(path);
    while (it != end) {
      if (it->second.layer > node->layer) {
        ++it;  // a link of a layer below the file's
        continue;
      }
      rebind(it->second.inode, node->inode);
      it = pending_.erase(it);
    }
  }
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

std::optional<std::string> LayerMerger::throughLayerSymlink(std::string_view path) const {
  auto [parentPath, name] = splitParent(path);
  if (parentPath.empty() || layerInodes_.empty())
    return std::nullopt;
  // The nearest parent this layer made a non-directory (visible or not) decides.
  for (size_t end = parentPath.size(); end != std::string_view::npos && end > 0;
       end = parentPath.rfind('/', end - 1)) {
    auto it = layerInodes_.find(std::string(parentPath.substr(0, end)));
    if (it == layerInodes_.end())
      continue;
    const FsInode& inode = *it->second;
    if (inode.type != EntryType::kSymlink)
      return std::nullopt;  // a file in the way: unpacking would fail; dropped as hidden
    auto [linkDir, linkName] = splitParent(parentPath.substr(0, end));
    std::string parent = resolveInRoot(linkDir, inode.symlinkTarget, layer_);
    std::string rest(parentPath.substr(end));  // "" or "/more/parents"
    std::string resolved = parent + rest + "/" + std::string(name);
    return resolved.front() == '/' ? resolved.substr(1) : resolved;
  }
  return std::nullopt;
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

}  // namespace berth::image
