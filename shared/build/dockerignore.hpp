// .dockerignore: which paths of a build context COPY and ADD leave out, by Docker's rules.
//
//  - one pattern a line; surrounding blanks trimmed; empty lines and lines starting with `#`
//    are skipped; a leading `!` makes an exception (re-includes what earlier lines excluded);
//  - patterns are cleaned like paths (`./a//b/` -> `a/b`, a leading `/` dropped): all are
//    relative to the context root;
//  - `*` matches within one path component, `?` one character of it, `**` any number of
//    components (zero included), `[a-z]`/`[^a]` a character class, `\` escapes the next one;
//  - a path is excluded when it, or one of its parent directories, matches; the last pattern
//    that decides wins.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::build {

class DockerIgnore {
 public:
  // The patterns of a .dockerignore file; a malformed pattern (`!` alone, an open `[`) is an
  // error naming its line.
  [[nodiscard]] static Result<DockerIgnore> parse(std::string_view text);

  // Whether `path` (relative to the context: "src/main.c", no leading "./") is left out.
  bool excluded(std::string_view path) const;

  // Whether any exception (`!`) pattern exists: a walker may then not skip an excluded
  // directory wholesale, as something below it may be re-included.
  bool hasExceptions() const { return hasExceptions_; }
  bool empty() const { return patterns_.empty(); }

 private:
  struct Pattern {
    std::string glob;  // cleaned
    bool exception = false;
  };
  std::vector<Pattern> patterns_;
  bool hasExceptions_ = false;
};

// Whether `glob` (the pattern language above) matches all of `path`.
bool globMatch(std::string_view glob, std::string_view path);

// Path cleaning as Go's path.Clean, less the leading "/": "./a//b/../c/" -> "a/c"; "" -> ".".
std::string cleanRelativePath(std::string_view path);

}  // namespace berth::build
