// LayerMerger: applies the entries of an image's layers to an FsTree, TOP-DOWN.
//
// Layers are fed from the top layer to the bottom one, so an entry whose path an upper layer
// already defined, deleted (OCI whiteout `.wh.NAME`) or hid (opaque directory `.wh..wh..opq`)
// is dropped before its data is read: no byte of overwritten or deleted files reaches the
// image. The result is what applying the layers bottom-up gives (umoci, containerd):
// - A hard link shares the inode its target names at the link's place in the stack: the
//   target's latest entry earlier in the same layer, else its entry in the nearest lower layer.
//   A link waiting for a lower layer holds an unresolved inode that the target's entry fills.
// - A target hidden by an upper layer still gives its inode (and data) to a link that stays
//   visible. Tar writes the data with the first name, before any link to it, so the data of
//   every hidden regular file is read speculatively (FsInode::speculative): the writer keeps
//   it aside and writes it into the image only if the final tree names the inode.
// - Upper-layer paths below a name that a lower layer makes a symlink land where the link
//   points inside the root (the link stays), as when unpacking resolves parents in the root.
//
// Hostile content (issue 3): `..` paths, over-long names, hard links to missing paths and
// device nodes are dropped with a warning; setuid/setgid bits are kept unless the site strips
// them.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "shared/convert/fs_tree.hpp"
#include "shared/convert/layer_reader.hpp"
#include "shared/core/log.hpp"
#include "shared/core/result.hpp"

namespace berth::convert {

struct MergeOptions {
  bool stripSetuid = false;  // remove setuid/setgid bits and file capabilities (a site's choice)
  bool keepDevices = false;  // keep device nodes (never for registry images)
};

struct MergeStats {
  int64_t entries = 0;   // entries seen in all layers
  int64_t hidden = 0;    // dropped: overwritten, whited out or under an opaque directory
  int64_t rejected = 0;  // dropped: hostile or malformed
  int64_t setuidStripped = 0;
  int64_t capabilitiesStripped = 0;       // security.capability xattrs removed (strip_setuid)
  int64_t devicesDropped = 0;             // device nodes left out of the image
  std::vector<std::string> deviceSample;  // the first few of them, for the summary line
  int64_t filesRead = 0;                  // regular files whose data went into the image
};

// What the caller does with the entry it just passed to add().
struct MergeDecision {
  // Non-null: stream the entry's data into this inode (LayerReader::read -> writer).
  FsInode* readInto = nullptr;
};

class LayerMerger {
 public:
  LayerMerger(MergeOptions options, Logger log) : options_(options), log_(std::move(log)) {}

  // Starts the next layer down; `name` is used in warnings (a digest, "layer 3").
  void beginLayer(std::string name);
  // Applies one entry of the current layer.
  MergeDecision add(const LayerEntry& entry);
  // Resolves what is left (drops hard links whose target never came, whiteout markers) and
  // counts links. The tree is final afterwards.
  void finish();

  FsTree& tree() { return tree_; }
  const MergeStats& stats() const { return stats_; }

 private:
  // A hard link of an upper layer waiting for its target's entry in a lower layer.
  struct PendingLink {
    std::shared_ptr<FsInode> inode;  // unresolved; shared by every name of the group
    int layer = 0;                   // the layer of the link: only lower layers resolve it
  };

  MergeDecision addResolved(const LayerEntry& entry);
  // Where `path` lands when one of its parents is a symlink an earlier entry of this layer
  // made (visible or not); nullopt when none is.
  std::optional<std::string> throughLayerSymlink(std::string_view path) const;
  // What the directories parentFor() makes are for: an entry's parents, or a whiteout's (gone
  // at finish() unless an entry of a lower layer shows they exist).
  enum class ParentUse { kEntry, kWhiteout };
  // The directory that holds `path` for this layer, made (implicit directories) where missing;
  // nullptr when an upper layer hid it.
  FsNode* parentFor(std::string_view path, ParentUse use);
  bool hidesFromThisLayer(const FsNode& node) const;
  // Whether `path` of this layer shows in the final tree (no upper layer defined or hid it).
  bool finalVisible(std::string_view path, const LayerEntry& entry);
  void applyWhiteout(const LayerEntry& entry, std::string_view name);
  // A hidden non-directory of this layer at `path`, where an upper layer has a directory: what
  // lower layers (and this one, before) put below it was deleted with the directory it replaced.
  void replaceDirectoryBelow(const std::string& path);
  void dropLayerEntries(FsNode& dir);
  // Places a visible entry in the tree; returns its node (nullptr: a directory merged into an
  // existing one, or rejected).
  FsNode* placeEntry(const LayerEntry& entry, FsNode& parent, std::string_view name);
  std::shared_ptr<FsInode> linkTarget(const LayerEntry& entry);
  // Gives `inode` to the links of upper layers waiting for `path`; true if one of them names
  // it in the tree (its data is then needed).
  bool resolvePending(const std::string& path, const std::shared_ptr<FsInode>& inode);
  void hold(FsNode& node, std::shared_ptr<FsInode> inode);
  // Points the nodes holding the unresolved `waiting` at `inode`; true if there were any.
  bool rebind(const std::shared_ptr<FsInode>& waiting, const std::shared_ptr<FsInode>& inode);
  // The files below `dir` with the paths they get below `path`.
  void collectMoved(const FsNode& dir, const std::string& path,
                    std::vector<std::pair<std::string, const FsNode*>>& out) const;
  // Resolves links waiting for files a redirect moved (path, node).
  void linkMoved(const std::vector<std::pair<std::string, const FsNode*>>& moved);
  std::shared_ptr<FsInode> makeInode(const LayerEntry& entry);
  bool dropDevice(const LayerEntry& entry);
  // A symlink of this layer at `node`'s place, where upper layers only made `node` as the
  // parent of their entries: moves those entries to where the link points.
  void redirectBelowSymlink(FsNode& parent, std::unique_ptr<FsNode> dir, const LayerEntry& link);
  // `target` (a symlink's, in directory `base`) resolved inside the root through the symlinks
  // that existed when `layer` wrote (those of that layer and below).
  std::string resolveInRoot(std::string_view base, std::string_view target, int layer) const;
  // The directory at `path`, made (as a parent of `layer`'s entries) where missing; nullptr
  // when a non-directory is in the way.
  FsNode* directoryAt(const std::string& path, int layer);
  void mergeNode(FsNode& into, std::unique_ptr<FsNode> node);
  FsNode& insert(FsNode& parent, std::string_view name);
  // A directory made as the parent of `layer`'s entries (its own entry may still come).
  FsNode& implicitDirectory(FsNode& parent, std::string_view name, int layer);
  // A whiteout marker of this layer below which this layer writes: a new directory (made as a
  // parent, default metadata) that hides what lower layers have there.
  void reviveAsDirectory(FsNode& marker);
  void warn(const LayerEntry& entry, std::string_view why);
  void removeMarkers(FsNode& node);

  MergeOptions options_;
  Logger log_;
  FsTree tree_;
  int layer_ = -1;
  std::string layerName_;
  // This layer's non-directory entries by path, visible or hidden: what its later hard links
  // name. Cleared at each layer.
  std::unordered_map<std::string, std::shared_ptr<FsInode>> layerInodes_;
  std::multimap<std::string, PendingLink> pending_;  // by target path
  // The tree nodes holding each unresolved inode, re-pointed when the target comes.
  std::unordered_map<const FsInode*, std::vector<FsNode*>> holders_;
  // Nodes taken out of the tree before the end: kept so holders_ never points at freed memory.
  std::vector<std::unique_ptr<FsNode>> replaced_;
  MergeStats stats_;
};

}  // namespace berth::convert
