#include "shared/build/definition_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

#include "shared/core/strings.hpp"

namespace berth::build {
namespace {

// The agents berth builds from, and whether a From: header must name the base.
struct AgentRow {
  std::string_view name;
  BootstrapAgent agent;
  bool needsFrom;
};
constexpr std::array kAgents = {
    AgentRow{"docker", BootstrapAgent::kDocker, true},
    AgentRow{"localimage", BootstrapAgent::kLocalImage, true},
    AgentRow{"oras", BootstrapAgent::kOras, true},
    AgentRow{"scratch", BootstrapAgent::kScratch, false},
    AgentRow{"docker-archive", BootstrapAgent::kDockerArchive, true},
    AgentRow{"oci", BootstrapAgent::kOci, true},
    AgentRow{"oci-archive", BootstrapAgent::kOciArchive, true},
};

// Apptainer's other agents: refused, each with what to do instead.
struct RefusedAgentRow {
  std::string_view name;
  std::string_view hint;
};
constexpr std::array kRefusedAgents = {
    RefusedAgentRow{"library", "pull the image by a docker:// or oras:// reference instead"},
    RefusedAgentRow{"shub", "Singularity Hub is gone; use Bootstrap: docker or oras"},
    RefusedAgentRow{"docker-daemon",
                    "save it first (`docker save -o IMG.tar REF`) and use "
                    "Bootstrap: docker-archive with From: IMG.tar"},
    RefusedAgentRow{"yum",
                    "start from a distribution image: Bootstrap: docker, From: rockylinux:9"},
    RefusedAgentRow{"dnf", "start from a distribution image: Bootstrap: docker, From: fedora"},
    RefusedAgentRow{"zypper",
                    "start from a distribution image: Bootstrap: docker, "
                    "From: opensuse/leap"},
    RefusedAgentRow{"debootstrap",
                    "start from a distribution image: Bootstrap: docker, "
                    "From: debian:12"},
    RefusedAgentRow{"arch", "start from a distribution image: Bootstrap: docker, From: archlinux"},
    RefusedAgentRow{"busybox",
                    "start from a distribution image: Bootstrap: docker, "
                    "From: busybox"},
};

// The sections berth builds; `shell`: whether `-c SHELL` is accepted.
struct SectionRow {
  std::string_view name;
  bool shell;
};
constexpr std::array kSections = {
    SectionRow{"setup", true},        SectionRow{"files", false},    SectionRow{"post", true},
    SectionRow{"environment", false}, SectionRow{"runscript", true}, SectionRow{"labels", false},
    SectionRow{"help", false},        SectionRow{"test", true},      SectionRow{"arguments", false},
};

// Apptainer sections berth refuses, with what to do instead.
constexpr std::array kRefusedSections = {
    RefusedAgentRow{"pre", "it ran on the host before the base existed; use %setup"},
    RefusedAgentRow{"startscript", "berth runs no instances; use %runscript"},
};

constexpr std::string_view kAcceptedHeaders = "Bootstrap, From, Registry, Namespace, Stage";

struct Line {
  int number = 0;  // 1-based
  std::string text;
};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool startsWithCaseless(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && lower(text.substr(0, prefix.size())) == prefix;
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

bool isNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

class Parser {
 public:
  explicit Parser(const DefinitionParseOptions& options) : options_(options) {}

  Result<DefinitionFile> parse(std::string_view text) {
    std::vector<Line> lines = splitLines(text);
    BERTH_TRY(collectArguments(lines));
    BERTH_TRY(substitute(lines));
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
    if (hint.empty())
      return Error(fmt::format("{}:{}: {}", options_.fileName, line, what));
    return Error(fmt::format("{}:{}: {}; {}", options_.fileName, line, what, hint));
  }

  // Pass 1: the `NAME=VALUE` lines of every %arguments section, then --build-arg on top.
  Status collectArguments(const std::vector<Line>& lines) {
    bool inArguments = false;
    for (const Line& line : lines) {
      if (isStageLine(line.text) || isSectionLine(line.text)) {
        inArguments =
            isSectionLine(line.text) && sectionNameAndArgs(line.text).first == "arguments";
        continue;
      }
      std::string_view t = trim(line.text);
      if (!inArguments || t.empty() || t.front() == '#')
        continue;
      size_t eq = t.find('=');
      std::string name(trim(t.substr(0, eq)));
      if (eq == std::string_view::npos || name.empty() ||
          !std::all_of(name.begin(), name.end(), isNameChar))
        return error(line.number, fmt::format("`{}` is not NAME=VALUE", t),
                     "%arguments lines give a default as NAME=VALUE");
      file_.arguments[name] = std::string(trim(t.substr(eq + 1)));
    }
    for (const auto& [name, value] : options_.buildArgs)
      file_.arguments[name] = value;
    return okStatus();
  }

  // Pass 2: `{{ NAME }}` everywhere but in %arguments bodies.
  Status substitute(std::vector<Line>& lines) {
    bool inArguments = false;
    for (Line& line : lines) {
      if (isStageLine(line.text) || isSectionLine(line.text))
        inArguments =
            isSectionLine(line.text) && sectionNameAndArgs(line.text).first == "arguments";
      else if (inArguments)
        continue;
      BERTH_ASSIGN(line.text, substituteLine(line));
    }
    return okStatus();
  }

  Result<std::string> substituteLine(const Line& line) {
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
      auto value = file_.arguments.find(name);
      if (value == file_.arguments.end())
        return error(
            line.number, fmt::format("`{{{{ {} }}}}` is not defined", name),
            fmt::format("give it a default in %arguments or pass --build-arg {}=VALUE", name));
      used_.insert(name);
      out.append(text, pos, open - pos);
      out += value->second;
      pos = p + 2;
    }
    out.append(text, pos, std::string::npos);
    return out;
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
      for (const RefusedAgentRow& row : kRefusedAgents)
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
      for (const RefusedAgentRow& refused : kRefusedSections)
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
