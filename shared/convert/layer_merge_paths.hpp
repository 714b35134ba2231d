// Small path and layer helpers shared by the layer merge's translation units
// (layer_merge.cpp: entries, whiteouts, hard links; layer_merge_symlinks.cpp: paths through
// symlinks). Internal to the merge.
#pragma once

#include <algorithm>
#include <string_view>
#include <utility>

namespace berth::convert::merge_detail {

// "a/b/c" -> {"a/b", "c"}; "c" -> {"", "c"}.
inline std::pair<std::string_view, std::string_view> splitParent(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos)
    return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// The upper of two opaque layers (layers count from the top: smaller is upper); -1 is
// "not opaque".
inline int upperOf(int a, int b) {
  return a < 0 ? b : b < 0 ? a : std::min(a, b);
}

}  // namespace berth::convert::merge_detail
