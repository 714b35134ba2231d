#include "shared/build/dockerignore.hpp"

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::build {
namespace {

// The end of the character class starting at glob[i] == '[', or npos when it is not closed.
size_t classEnd(std::string_view glob, size_t i) {
  size_t j = i + 1;
  if (j < glob.size() && glob[j] == '^')
    ++j;
  if (j < glob.size() && glob[j] == ']')
    ++j;  // a leading ']' is a member
  for (; j < glob.size(); ++j) {
    if (glob[j] == '\\')
      ++j;
    else if (glob[j] == ']')
      return j;
  }
  return std::string_view::npos;
}

bool classMatches(std::string_view cls, char c) {
  // cls: the text between '[' and ']'.
  bool negate = !cls.empty() && cls[0] == '^';
  if (negate)
    cls.remove_prefix(1);
  bool found = false;
  for (size_t i = 0; i < cls.size(); ++i) {
    char low = cls[i];
    if (low == '\\' && i + 1 < cls.size())
      low = cls[++i];
    char high = low;
    if (i + 2 < cls.size() && cls[i + 1] == '-') {
      high = cls[i + 2];
      if (high == '\\' && i + 3 < cls.size())
        high = cls[++i + 2];
      i += 2;
    }
    if (c >= low && c <= high)
      found = true;
  }
  return found != negate;
}

// Matches glob[g..] against path[p..]. `memo` (one cell per (g, p): 0 unknown, 1 no, 2 yes)
// keeps patterns like `*a*a*a*b` polynomial.
class GlobMatcher {
 public:
  GlobMatcher(std::string_view glob, std::string_view path)
      : glob_(glob), path_(path), memo_((glob.size() + 1) * (path.size() + 1), 0) {}

  bool match(size_t g, size_t p) {
    char& cell = memo_[g * (path_.size() + 1) + p];
    if (cell == 0)
      cell = compute(g, p) ? 2 : 1;
    return cell == 2;
  }

 private:
  bool compute(size_t g, size_t p) {
    if (g == glob_.size())
      return p == path_.size();
    char c = glob_[g];
    if (c == '*') {
      if (g + 1 < glob_.size() && glob_[g + 1] == '*') {
        // `**`: any number of components. A following '/' belongs to it.
        size_t next = g + 2;
        if (next < glob_.size() && glob_[next] == '/')
          ++next;
        if (next == glob_.size())
          return true;
        for (size_t k = p; k <= path_.size(); ++k)
          if ((k == p || path_[k - 1] == '/') && match(next, k))
            return true;
        return false;
      }
      // `*`: nothing more, or one more character that is not '/'.
      return match(g + 1, p) || (p < path_.size() && path_[p] != '/' && match(g, p + 1));
    }
    if (p == path_.size())
      return false;
    if (c == '?')
      return path_[p] != '/' && match(g + 1, p + 1);
    if (c == '[') {
      size_t end = classEnd(glob_, g);
      return end != std::string_view::npos &&
             classMatches(glob_.substr(g + 1, end - g - 1), path_[p]) && match(end + 1, p + 1);
    }
    if (c == '\\' && g + 1 < glob_.size())
      return glob_[g + 1] == path_[p] && match(g + 2, p + 1);
    return c == path_[p] && match(g + 1, p + 1);
  }

  std::string_view glob_;
  std::string_view path_;
  std::vector<char> memo_;
};

}  // namespace

std::string cleanRelativePath(std::string_view path) {
  std::vector<std::string> parts;
  bool absolute = path.starts_with('/');
  for (const std::string& part : split(path, '/')) {
    if (part.empty() || part == ".")
      continue;
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..")
        parts.pop_back();
      else if (!absolute)
        parts.push_back(part);
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (const std::string& part : parts)
    out += (out.empty() ? "" : "/") + part;
  return out.empty() ? "." : out;
}

bool globMatch(std::string_view glob, std::string_view path) {
  return GlobMatcher(glob, path).match(0, 0);
}

Result<DockerIgnore> DockerIgnore::parse(std::string_view text) {
  DockerIgnore ignore;
  if (text.starts_with("\xEF\xBB\xBF"))
    text.remove_prefix(3);  // a UTF-8 byte order mark
  int number = 0;
  for (const std::string& raw : split(text, '\n')) {
    ++number;
    if (raw.starts_with('#'))
      continue;
    std::string_view line = trim(raw);
    if (line.empty())
      continue;
    Pattern pattern;
    if (line.front() == '!') {
      pattern.exception = true;
      line = trim(line.substr(1));
      if (line.empty())
        return Error(fmt::format(".dockerignore:{}: `!` alone excludes nothing", number));
    }
    pattern.glob = cleanRelativePath(line);
    for (size_t i = 0; i < pattern.glob.size(); ++i) {
      if (pattern.glob[i] == '\\')
        ++i;
      else if (pattern.glob[i] == '[' && (i = classEnd(pattern.glob, i)) == std::string_view::npos)
        return Error(fmt::format(".dockerignore:{}: `{}` has an unclosed `[`", number, line));
    }
    ignore.hasExceptions_ = ignore.hasExceptions_ || pattern.exception;
    ignore.patterns_.push_back(std::move(pattern));
  }
  return ignore;
}

bool DockerIgnore::excluded(std::string_view path) const {
  bool matched = false;
  for (const Pattern& pattern : patterns_) {
    // An exclusion only matters while not excluded, an exception only while excluded.
    if (pattern.exception != matched)
      continue;
    bool match = globMatch(pattern.glob, path);
    // Or one of the parent directories matches.
    for (size_t slash = path.find('/'); !match && slash != std::string_view::npos;
         slash = path.find('/', slash + 1))
      match = globMatch(pattern.glob, path.substr(0, slash));
    if (match)
      matched = !pattern.exception;
  }
  return matched;
}

}  // namespace berth::build
