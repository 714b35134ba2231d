// LayerMerger, the part about symbolic links: resolving a path inside the root through the
// links the layers made, and moving what a layer wrote below a lower layer's symlink to where
// the link points (as an unpacker following the link would have put it).
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shared/convert/layer_merge.hpp"
#include "shared/convert/layer_merge_paths.hpp"
#include "shared/core/strings.hpp"

namespace berth::convert {
namespace {

using merge_detail::splitParent;
using merge_detail::upperOf;

// Symlinks followed while resolving one path inside the root (the kernel's MAXSYMLINKS).
constexpr int kMaxSymlinkHops = 40;

std::string joinPath(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts)
    out += (out.empty() ? "" : "/") + part;
  return out;
}

}  // namespace

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
    if (child->layer == layer_) {
      replaced_.push_back(std::move(child));  // this layer's, gone with the directory
      continue;
    }
    // An upper layer's directory may hold entries of this layer below it (written before the
    // link replaced the directory): gone with it too, only the upper layers' entries move.
    dropLayerEntries(*child);
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

}  // namespace berth::convert
