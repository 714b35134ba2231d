#include "shared/build/definition_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

#include "shared/build/definition_lines.hpp"
#include "shared/build/definition_tables.hpp"
#include "shared/core/strings.hpp"

namespace berth::build {
namespace {

using namespace definition_tables;
using namespace definition_lines;

class Parser {
 public:
  explicit Parser(const DefinitionParseOptions& options) : options_(options) {}

  Result<DefinitionFile> parse(std::string_view text) {
    std::vector<Line> lines = splitLines(text);
    BERTH_TRY(substituteArguments(lines, options_, file_.arguments, used_));
    for (const auto& [name, value] : options_.buildArgs)
      if (!used_.contains(name))
        file_.unusedBuildArgs.push_back(name);

    // Text before the first Bootstrap: line may only be comments.
    size_t i = 0;
    for (; i < lines.size() && !isStageLine(lines[i].text); ++i) {
      std::string_view t = trim(lines[i].text);
      if (!t.empty() && t.front() != '#')
        return error(lines[i].number, "a definition file starts with its header",
                     "begin with `Bootstrap: docker` and `From: IMAGE`");
    }
    if (i == lines.size())
      return Error(
          fmt::format("{}: no `Bootstrap:` header; begin with `Bootstrap: docker` and "
                      "`From: IMAGE`",
                      options_.fileName));
    while (i < lines.size()) {
      size_t end = i + 1;
      while (end < lines.size() && !isStageLine(lines[end].text))
        ++end;
      BERTH_TRY(parseStage(lines, i, end));
      i = end;
    }
    return std::move(file_);
  }

 private:
  Error error(int line, std::string_view what, std::string_view hint = {}) const {
    return lineError(options_.fileName, line, what, hint);
  }

  Status parseStage(const std::vector<Line>& lines, size_t begin, size_t end) {
    DefinitionStage stage;
    stage.line = lines[begin].number;
    size_t i = begin;
    // Header lines up to the first section.
    std::map<std::string, int> headerLines;
    while (i < end && !isSectionLine(lines[i].text)) {
      const Line& line = lines[i++];
      std::string_view t = trim(line.text);
      if (t.empty() || t.front() == '#')
        continue;
      std::string_view content = trim(t.substr(0, t.find('#')));
      size_t colon = content.find(':');
      if (colon == std::string_view::npos)
        return error(line.number, fmt::format("header line `{}` is not `Key: value`", content));
      std::string key = lower(trim(content.substr(0, colon)));
      std::string value(trim(content.substr(colon + 1)));
      while (!value.empty() && value.back() == '\\' && i < end && !isSectionLine(lines[i].text)) {
        value.pop_back();
        std::string_view next = trim(lines[i++].text);
        value += trim(next.substr(0, next.find('#')));
      }
      if (stage.header.contains(key))
        return error(line.number, fmt::format("header `{}` given twice in one stage", key));
      stage.header[key] = value;
      headerLines[key] = line.number;
    }
    BERTH_TRY(readHeader(stage, headerLines));

    // Sections.
    while (i < end) {
      const Line& sectionLine = lines[i++];
      size_t bodyEnd = i;
      while (bodyEnd < end && !isSectionLine(lines[bodyEnd].text))
        ++bodyEnd;
      auto [name, args] = sectionNameAndArgs(sectionLine.text);
      BERTH_TRY(addSection(stage, sectionLine.number, name, args, lines, i, bodyEnd));
      i = bodyEnd;
    }
    if (!stage.name.empty()) {
      for (const DefinitionStage& earlier : file_.stages)
        if (earlier.name == stage.name)
          return error(headerLines["stage"], fmt::format("stage `{}` is named twice", stage.name));
    }
    file_.stages.push_back(std::move(stage));
    return okStatus();
  }

  Status readHeader(DefinitionStage& stage, std::map<std::string, int>& headerLines) {
    for (const auto& [key, value] : stage.header) {
      if (key == "bootstrap" || key == "from" || key == "registry" || key == "namespace" ||
          key == "stage")
        continue;
      return error(headerLines[key], fmt::format("header `{}` is not supported", key),
                   fmt::format("berth reads {}", kAcceptedHeaders));
    }
    std::string agentName = lower(stage.header["bootstrap"]);
    int line = headerLines["bootstrap"];
    const AgentRow* agent = nullptr;
    for (const AgentRow& row : kAgents)
      if (row.name == agentName)
        agent = &row;
    if (agent == nullptr) {
      for (const RefusedRow& row : kRefusedAgents)
        if (row.name == agentName)
          return error(line, fmt::format("Bootstrap: {} is not supported", agentName), row.hint);
      return error(line, fmt::format("unknown bootstrap agent `{}`", agentName),
                   "berth builds from docker, localimage, oras, scratch, docker-archive, oci "
                   "and oci-archive");
    }
    stage.agent = agent->agent;
    auto from = stage.header.find("from");
    if (from != stage.header.end())
      stage.from = from->second;
    if (agent->needsFrom && stage.from.empty())
      return error(line, fmt::format("Bootstrap: {} needs a `From:` header", agentName),
                   "name the base image");
    if (!agent->needsFrom && from != stage.header.end())
      return error(headerLines["from"], "Bootstrap: scratch takes no `From:`",
                   "remove it, or bootstrap from docker");
    for (const char* key : {"registry", "namespace"}) {
      auto it = stage.header.find(key);
      if (it == stage.header.end())
        continue;
      if (stage.agent != BootstrapAgent::kDocker)
        return error(headerLines[key], fmt::format("`{}:` applies to Bootstrap: docker only", key));
      (std::string_view(key) == "registry" ? stage.registry : stage.nameSpace) = it->second;
    }
    if (auto name = stage.header.find("stage"); name != stage.header.end()) {
      if (name->second.empty() || name->second.find_first_of(" \t") != std::string::npos)
        return error(headerLines["stage"], "`Stage:` needs one word");
      stage.name = name->second;
    }
    return okStatus();
  }

  Status addSection(DefinitionStage& stage, int line, const std::string& name,
                    const std::string& args, const std::vector<Line>& lines, size_t begin,
                    size_t end) {
    const SectionRow* row = nullptr;
    for (const SectionRow& r : kSections)
      if (r.name == name)
        row = &r;
    if (row == nullptr) {
      for (const RefusedRow& refused : kRefusedSections)
        if (refused.name == name)
          return error(line, fmt::format("section %{} is not supported", name), refused.hint);
      if (name.starts_with("app"))
        return error(line, fmt::format("section %{} is not supported", name),
                     "berth builds no SCIF apps; put the app in %post and %runscript");
      return error(line, fmt::format("unknown section `%{}`", name),
                   "sections are %setup, %files, %post, %environment, %runscript, %labels, "
                   "%help, %test, %arguments");
    }
    if (name == "arguments")
      return okStatus();  // read in pass 1
    if (name == "files")
      return addFiles(stage, line, args, lines, begin, end);

    std::string shell;
    if (!args.empty()) {
      std::vector<std::string> words = splitWords(args);
      if (!row->shell || words.size() != 2 || words[0] != "-c")
        return error(line, fmt::format("%{} takes no arguments `{}`", name, args),
                     row->shell ? "the only one is `-c SHELL`" : "remove them");
      shell = words[1];
    }
    std::string body;
    for (size_t i = begin; i < end; ++i)
      body += lines[i].text + "\n";

    if (name == "labels") {
      for (size_t i = begin; i < end; ++i) {
        std::string_view t = trim(lines[i].text);
        if (t.empty() || t.front() == '#')
          continue;
        size_t space = t.find_first_of(" \t");
        std::string key(t.substr(0, space));
        std::string value;
        if (space != std::string_view::npos)
          value = trim(t.substr(space));
        stage.labels[key] = value;
      }
    }

    for (DefinitionSection& section : stage.sections) {
      if (section.name != name)
        continue;
      section.body += body;
      section.lines.push_back(line);
      if (!shell.empty())
        section.shell = shell;
      return okStatus();
    }
    stage.sections.push_back({name, shell, body, {line}});
    return okStatus();
  }

  Status addFiles(DefinitionStage& stage, int line, const std::string& args,
                  const std::vector<Line>& lines, size_t begin, size_t end) {
    std::string from;
    if (!args.empty()) {
      std::vector<std::string> words = splitWords(args);
      if (words.size() != 2 || lower(words[0]) != "from")
        return error(line, fmt::format("%files takes `from STAGE`, not `{}`", args));
      from = words[1];
      bool known = false;
      for (const DefinitionStage& earlier : file_.stages)
        known = known || earlier.name == from;
      if (!known)
        return error(line, fmt::format("%files from `{}`: no earlier stage has that name", from),
                     "name a stage with `Stage:` before this one");
    }
    FilesSection* section = nullptr;
    for (FilesSection& existing : stage.files)
      if (existing.fromStage == from)
        section = &existing;
    if (section == nullptr) {
      stage.files.push_back({from, {}, line});
      section = &stage.files.back();
    }
    for (size_t i = begin; i < end; ++i) {
      std::string_view t = trim(lines[i].text);
      if (t.empty() || t.front() == '#')
        continue;
      std::vector<std::string> words = splitWords(t);
      if (words.empty() || words.size() > 2)
        return error(lines[i].number, fmt::format("%files line `{}` is not SOURCE [DEST]", t),
                     "quote paths that hold spaces");
      if (words[0].empty())
        return error(lines[i].number, "%files line with an empty source");
      std::string destination = words.size() == 2 ? words[1] : words[0];
      section->copies.push_back({words[0], destination, lines[i].number});
    }
    return okStatus();
  }

  // Words split at blanks, "double" and 'single' quotes grouping (quotes removed).
  static std::vector<std::string> splitWords(std::string_view text) {
    std::vector<std::string> words;
    std::string word;
    bool inWord = false;
    char quote = 0;
    for (char c : text) {
      if (quote != 0) {
        if (c == quote)
          quote = 0;
        else
          word += c;
      } else if (c == '"' || c == '\'') {
        quote = c;
        inWord = true;
      } else if (c == ' ' || c == '\t') {
        if (inWord)
          words.push_back(std::move(word));
        word.clear();
        inWord = false;
      } else {
        word += c;
        inWord = true;
      }
    }
    if (inWord)
      words.push_back(std::move(word));
    return words;
  }

  const DefinitionParseOptions& options_;
  DefinitionFile file_;
  std::set<std::string> used_;
};

}  // namespace

std::string_view bootstrapAgentName(BootstrapAgent agent) {
  for (const AgentRow& row : kAgents)
    if (row.agent == agent)
      return row.name;
  return "unknown";
}

const DefinitionSection* DefinitionStage::section(std::string_view name) const {
  for (const DefinitionSection& s : sections)
    if (s.name == name)
      return &s;
  return nullptr;
}

Result<DefinitionFile> parseDefinitionFile(std::string_view text,
                                           const DefinitionParseOptions& options) {
  return Parser(options).parse(text);
}

}  // namespace berth::build
