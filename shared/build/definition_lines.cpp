#include "shared/build/definition_lines.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "shared/core/strings.hpp"

namespace berth::build::definition_lines {
namespace {

bool startsWithCaseless(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && lower(text.substr(0, prefix.size())) == prefix;
}

bool isNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// Pass 1: the `NAME=VALUE` lines of every %arguments section, then --build-arg on top.
Status collectArguments(const std::vector<Line>& lines, const DefinitionParseOptions& options,
                        std::map<std::string, std::string>& arguments) {
  bool inArguments = false;
  for (const Line& line : lines) {
    if (isStageLine(line.text) || isSectionLine(line.text)) {
      inArguments = isSectionLine(line.text) && sectionNameAndArgs(line.text).first == "arguments";
      continue;
    }
    std::string_view t = trim(line.text);
    if (!inArguments || t.empty() || t.front() == '#')
      continue;
    size_t eq = t.find('=');
    std::string name(trim(t.substr(0, eq)));
    if (eq == std::string_view::npos || name.empty() ||
        !std::all_of(name.begin(), name.end(), isNameChar))
      return lineError(options.fileName, line.number, fmt::format("`{}` is not NAME=VALUE", t),
                       "%arguments lines give a default as NAME=VALUE");
    arguments[name] = std::string(trim(t.substr(eq + 1)));
  }
  for (const auto& [name, value] : options.buildArgs)
    arguments[name] = value;
  return okStatus();
}

Result<std::string> substituteLine(const Line& line, const DefinitionParseOptions& options,
                                   const std::map<std::string, std::string>& arguments,
                                   std::set<std::string>& used) {
  const std::string& text = line.text;
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == std::string::npos)
      break;
    size_t p = open + 2;
    while (p < text.size() && (text[p] == ' ' || text[p] == '\t'))
      ++p;
    size_t nameStart = p;
    while (p < text.size() && isNameChar(text[p]))
      ++p;
    size_t nameEnd = p;
    while (p < text.size() && (text[p] == ' ' || text[p] == '\t'))
      ++p;
    if (nameEnd == nameStart || text.compare(p, 2, "}}") != 0) {
      // Not a variable (a Go template, a literal "{{"): kept as it is.
      out.append(text, pos, open + 2 - pos);
      pos = open + 2;
      continue;
    }
    std::string name = text.substr(nameStart, nameEnd - nameStart);
    auto value = arguments.find(name);
    if (value == arguments.end())
      return lineError(
          options.fileName, line.number, fmt::format("`{{{{ {} }}}}` is not defined", name),
          fmt::format("give it a default in %arguments or pass --build-arg {}=VALUE", name));
    used.insert(name);
    out.append(text, pos, open - pos);
    out += value->second;
    pos = p + 2;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

// Pass 2: `{{ NAME }}` everywhere but in %arguments bodies.
Status substitute(std::vector<Line>& lines, const DefinitionParseOptions& options,
                  const std::map<std::string, std::string>& arguments,
                  std::set<std::string>& used) {
  bool inArguments = false;
  for (Line& line : lines) {
    if (isStageLine(line.text) || isSectionLine(line.text))
      inArguments = isSectionLine(line.text) && sectionNameAndArgs(line.text).first == "arguments";
    else if (inArguments)
      continue;
    BERTH_ASSIGN(line.text, substituteLine(line, options, arguments, used));
  }
  return okStatus();
}

}  // namespace

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Error lineError(std::string_view file, int line, std::string_view what, std::string_view hint) {
  if (hint.empty())
    return Error(fmt::format("{}:{}: {}", file, line, what));
  return Error(fmt::format("{}:{}: {}; {}", file, line, what, hint));
}

std::vector<Line> splitLines(std::string_view text) {
  std::vector<Line> lines;
  int number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? end : end - start);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    lines.push_back({++number, std::string(line)});
    if (end == std::string_view::npos)
      break;
    start = end + 1;
  }
  return lines;
}

// A section line: its first word starts with '%' (Apptainer's rule, indentation allowed).
bool isSectionLine(std::string_view line) {
  std::string_view word = trim(line);
  return !word.empty() && word.front() == '%';
}

bool isStageLine(std::string_view line) {
  return startsWithCaseless(line, "bootstrap:");
}

// "%post -c /bin/bash" -> {"post", "-c /bin/bash"}.
std::pair<std::string, std::string> sectionNameAndArgs(std::string_view line) {
  std::string_view rest = trim(line).substr(1);
  size_t space = rest.find_first_of(" \t");
  if (space == std::string_view::npos)
    return {lower(rest), ""};
  return {lower(rest.substr(0, space)), std::string(trim(rest.substr(space)))};
}

Status substituteArguments(std::vector<Line>& lines, const DefinitionParseOptions& options,
                           std::map<std::string, std::string>& arguments,
                           std::set<std::string>& used) {
  BERTH_TRY(collectArguments(lines, options, arguments));
  return substitute(lines, options, arguments, used);
}

}  // namespace berth::build::definition_lines
