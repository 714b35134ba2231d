// Dockerfile variable substitution: Docker's word rules (BuildKit's shell lexer), not a shell's.
//
//   $NAME  ${NAME}                   the value; an unset name gives ""
//   ${NAME:-word}  ${NAME-word}      word when NAME is unset or empty (`-`: only when unset)
//   ${NAME:+word}  ${NAME+word}      word when NAME is set and non-empty (`+`: when set)
//   ${NAME:?msg}   ${NAME?msg}       an error when NAME is unset or empty (`?`: when unset)
//   'single quotes'                  literal, quotes removed
//   "double quotes"                  $ expanded, quotes removed, ESC" is a quote
//   ESC CHAR (ESC = `\` or the file's `# escape=`) the character itself; `ESC$` is a literal $
// A `$` not followed by a name or `{` is literal. Other `${NAME...}` forms are errors.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::build {

// The value of a variable, or nullopt when it is not set.
using VariableLookup = std::function<std::optional<std::string>(std::string_view name)>;

// One word with quotes and escapes processed and variables expanded. `used` (optional) collects
// the names looked up.
[[nodiscard]] Result<std::string> expandWord(std::string_view word, const VariableLookup& lookup,
                                             char escape = '\\',
                                             std::vector<std::string>* used = nullptr);

// Splits at unquoted, unescaped blanks, then expands each word (EXPOSE, VOLUME, COPY sources).
[[nodiscard]] Result<std::vector<std::string>> expandWords(
    std::string_view text, const VariableLookup& lookup, char escape = '\\',
    std::vector<std::string>* used = nullptr);

// Splits at unquoted, unescaped blanks keeping quotes and escapes as they are (the raw words of
// `ENV a=1 b="x y"`).
std::vector<std::string> splitRawWords(std::string_view text, char escape = '\\');

}  // namespace berth::build
