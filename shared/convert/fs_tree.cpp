#include "shared/convert/fs_tree.hpp"

#include "shared/core/strings.hpp"

namespace berth::convert {

std::string FsNode::path() const {
  if (parent == nullptr)
    return "";
  std::string up = parent->path();
  return up.empty() ? name : up + "/" + name;
}

FsTree::FsTree() : root_(std::make_unique<FsNode>()) {
  root_->inode = std::make_shared<FsInode>();
  root_->implicit = true;
}

FsNode* FsTree::find(std::string_view path) {
  return const_cast<FsNode*>(std::as_const(*this).find(path));
}

const FsNode* FsTree::find(std::string_view path) const {
  const FsNode* node = root_.get();
  if (path.empty())
    return node;
  for (const std::string& part : split(path, '/')) {
    auto it = node->children.find(part);
    if (it == node->children.end())
      return nullptr;
    node = it->second.get();
  }
  return node;
}

}  // namespace berth::convert
