// Lines of a definition file: how Apptainer tells stages and sections apart, and the
// `{{ NAME }}` substitution of %arguments (definition_file.cpp builds the model on top).
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/build/definition_file.hpp"
#include "shared/core/result.hpp"

namespace berth::build::definition_lines {

struct Line {
  int number = 0;  // 1-based
  std::string text;
};

// The lines of `text` ("\r\n" endings too), numbered from 1.
std::vector<Line> splitLines(std::string_view text);

// A section line: its first word starts with '%' (Apptainer's rule, indentation allowed).
bool isSectionLine(std::string_view line);

// A stage line: `Bootstrap:` in any case, from the first column.
bool isStageLine(std::string_view line);

// "%post -c /bin/bash" -> {"post", "-c /bin/bash"} (the name in lower case).
std::pair<std::string, std::string> sectionNameAndArgs(std::string_view line);

std::string lower(std::string_view text);

// "FILE:LINE: what", and "; hint" when there is one.
Error lineError(std::string_view file, int line, std::string_view what, std::string_view hint = {});

// Reads the NAME=VALUE defaults of every %arguments section into `arguments`, lays
// options.buildArgs over them, and replaces `{{ NAME }}` in every line outside %arguments
// (`used` collects the names replaced). An undefined name is an error at its line.
[[nodiscard]] Status substituteArguments(std::vector<Line>& lines,
                                         const DefinitionParseOptions& options,
                                         std::map<std::string, std::string>& arguments,
                                         std::set<std::string>& used);

}  // namespace berth::build::definition_lines
