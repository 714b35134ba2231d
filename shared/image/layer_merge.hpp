// LayerMerger: applies the entries of an image's layers to an FsTree, TOP-DOWN.
//
// Layers are fed from the top layer to the bottom one, so an entry whose path an upper layer
// already defined, deleted (OCI whiteout `.wh.NAME`) or hid (opaque directory `.wh..wh..opq`)
// is dropped before its data is read: no byte of overwritten or deleted files reaches the
// image. Hard links may name a target in the same or a lower layer; a link to a lower layer is
// resolved when that layer's entry for the target comes by (its data is then read even if the
// target path itself is hidden in the final tree).
//
// Hostile content (issue 3): `..` paths, over-long names, hard links to missing paths, device
// nodes and setuid/setgid bits (unless allowed) are dropped or neutralised with a warning.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "shared/core/log.hpp"
#include "shared/core/result.hpp"
#include "shared/image/fs_tree.hpp"
#include "shared/image/layer_reader.hpp"

namespace berth::image {

struct MergeOptions {
  bool keepSetuid = false;   // keep setuid/setgid bits (an admin's choice)
  bool keepDevices = false;  // keep device nodes (never for registry images)
};

struct MergeStats {
  int64_t entries = 0;   // entries seen in all layers
  int64_t hidden = 0;    // dropped: overwritten, whited out or under an opaque directory
  int64_t rejected = 0;  // dropped: hostile or malformed
  int64_t setuidStripped = 0;
  int64_t filesRead = 0;  // regular files whose data went into the image
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
  // The directory that would hold `path` if this layer may write there; nullptr when an upper
  // layer hid it. With `create`, missing parents are made (implicit directories).
  FsNode* parentFor(std::string_view path, bool create);
  bool hidesFromThisLayer(const FsNode& node) const;
  bool finalVisible(const FsNode* parent, std::string_view name, const LayerEntry& entry) const;
  std::shared_ptr<FsInode> applyEntry(const LayerEntry& entry, FsNode& parent,
                                      std::string_view name);
  void applyWhiteout(const LayerEntry& entry, std::string_view name);
  void linkTo(FsNode* node, const std::string& target);
  std::shared_ptr<FsInode> makeInode(const LayerEntry& entry);
  FsNode& insert(FsNode& parent, std::string_view name);
  void warn(const LayerEntry& entry, std::string_view why);
  void removeMarkers(FsNode& node);

  MergeOptions options_;
  Logger log_;
  FsTree tree_;
  int layer_ = -1;
  std::string layerName_;
  // Hard links waiting for their target path to come by in this or a lower layer.
  std::map<std::string, std::vector<FsNode*>> pending_;
  // Nodes replaced within one layer: kept so pending_ never points at freed memory.
  std::vector<std::unique_ptr<FsNode>> replaced_;
  MergeStats stats_;
};

}  // namespace berth::image
