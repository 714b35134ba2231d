#include "shared/build/dockerfile_syntax.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <nlohmann/json.hpp>

#include "shared/build/shell_lex.hpp"
#include "shared/core/strings.hpp"

namespace berth::build {
namespace {

// A flag an instruction takes, or refuses with a hint (`hint` non-empty).
struct FlagRow {
  std::string_view instruction;
  std::string_view name;
  bool takesValue;
  std::string_view hint;  // non-empty: refused
};
constexpr std::array kFlags = {
    FlagRow{"FROM", "platform", true, ""},
    FlagRow{"RUN", "mount", true, "not supported yet: COPY what the step needs first"},
    FlagRow{"RUN", "network", true, "not supported: steps use the host's network"},
    FlagRow{"RUN", "security", true, "not supported: steps run with the identity mode's rights"},
    FlagRow{"COPY", "from", true, ""},
    FlagRow{"COPY", "chown", true, ""},
    FlagRow{"COPY", "chmod", true, ""},
    FlagRow{"COPY", "link", false, ""},  // accepted: every berth layer is independent anyway
    FlagRow{"COPY", "parents", false, "not supported: COPY each directory to its destination"},
    FlagRow{"COPY", "exclude", true, "not supported: exclude files with .dockerignore"},
    FlagRow{"ADD", "checksum", true, ""},
    FlagRow{"ADD", "chown", true, ""},
    FlagRow{"ADD", "chmod", true, ""},
    FlagRow{"ADD", "link", false, ""},
    FlagRow{"ADD", "keep-git-dir", false, "not supported: berth's ADD fetches no git repositories"},
    FlagRow{"ADD", "exclude", true, "not supported: exclude files with .dockerignore"},
    FlagRow{"HEALTHCHECK", "interval", true, ""},
    FlagRow{"HEALTHCHECK", "timeout", true, ""},
    FlagRow{"HEALTHCHECK", "start-period", true, ""},
    FlagRow{"HEALTHCHECK", "start-interval", true, ""},
    FlagRow{"HEALTHCHECK", "retries", true, ""},
};

struct KeywordRow {
  std::string_view keyword;
  DockerInstructionKind kind;
  bool flags;  // leading --flags are parsed
};
constexpr std::array kKeywords = {
    KeywordRow{"FROM", DockerInstructionKind::kFrom, true},
    KeywordRow{"RUN", DockerInstructionKind::kRun, true},
    KeywordRow{"COPY", DockerInstructionKind::kCopy, true},
    KeywordRow{"ADD", DockerInstructionKind::kAdd, true},
    KeywordRow{"ENV", DockerInstructionKind::kEnv, false},
    KeywordRow{"ARG", DockerInstructionKind::kArg, false},
    KeywordRow{"LABEL", DockerInstructionKind::kLabel, false},
    KeywordRow{"WORKDIR", DockerInstructionKind::kWorkdir, false},
    KeywordRow{"USER", DockerInstructionKind::kUser, false},
    KeywordRow{"CMD", DockerInstructionKind::kCmd, false},
    KeywordRow{"ENTRYPOINT", DockerInstructionKind::kEntrypoint, false},
    KeywordRow{"SHELL", DockerInstructionKind::kShell, false},
    KeywordRow{"EXPOSE", DockerInstructionKind::kExpose, false},
    KeywordRow{"VOLUME", DockerInstructionKind::kVolume, false},
    KeywordRow{"STOPSIGNAL", DockerInstructionKind::kStopSignal, false},
    KeywordRow{"HEALTHCHECK", DockerInstructionKind::kHealthcheck, true},
    KeywordRow{"ONBUILD", DockerInstructionKind::kOnbuild, false},
    KeywordRow{"MAINTAINER", DockerInstructionKind::kMaintainer, false},
};

bool isBlank(char c) {
  return c == ' ' || c == '\t';
}

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

// `<<EOF`, `<<-EOF`, `<<"EOF"`: a heredoc (not the shell's `<<<` here-string).
bool hasHeredoc(std::string_view args) {
  for (size_t i = 0; i + 2 < args.size(); ++i) {
    if (args[i] != '<' || args[i + 1] != '<' || (i > 0 && args[i - 1] == '<') || args[i + 2] == '<')
      continue;
    size_t j = i + 2;
    if (j < args.size() && args[j] == '-')
      ++j;
    if (j < args.size() && (args[j] == '"' || args[j] == '\''))
      ++j;
    if (j < args.size() && (std::isalpha(static_cast<unsigned char>(args[j])) || args[j] == '_'))
      return true;
  }
  return false;
}

// The JSON array of strings in `args`, if that is what it is.
bool parseExecForm(std::string_view args, std::vector<std::string>& out) {
  if (args.empty() || args.front() != '[')
    return false;
  nlohmann::json json = nlohmann::json::parse(args, nullptr, /*allow_exceptions=*/false);
  if (!json.is_array())
    return false;
  std::vector<std::string> values;
  for (const auto& element : json) {
    if (!element.is_string())
      return false;
    values.push_back(element.get<std::string>());
  }
  out = std::move(values);
  return true;
}

Status parseFlags(DockerInstruction& instruction) {
  std::string_view rest = instruction.args;
  while (rest.starts_with("--")) {
    size_t end = 0;
    while (end < rest.size() && !isBlank(rest[end]))
      ++end;
    std::string_view word = rest.substr(2, end - 2);
    rest = trim(rest.substr(end));
    size_t eq = word.find('=');
    std::string name(word.substr(0, eq));
    const FlagRow* row = nullptr;
    for (const FlagRow& r : kFlags)
      if (r.instruction == instruction.keyword && r.name == name)
        row = &r;
    if (row == nullptr)
      return Error(fmt::format("{} --{}: unknown flag", instruction.keyword, name));
    if (!row->hint.empty())
      return Error(fmt::format("{} --{}: {}", instruction.keyword, name, row->hint));
    if (row->takesValue && eq == std::string_view::npos)
      return Error(
          fmt::format("{} --{} needs a value (--{}=VALUE)", instruction.keyword, name, name));
    std::string value(eq == std::string_view::npos ? std::string_view() : word.substr(eq + 1));
    instruction.flags.emplace_back(name, value);
  }
  instruction.args = std::string(rest);
  return okStatus();
}

}  // namespace

Result<DockerInstruction> parseDockerInstruction(std::string_view line, char escape) {
  std::string_view text = trim(line);
  size_t end = 0;
  while (end < text.size() && !isBlank(text[end]))
    ++end;
  DockerInstruction instruction;
  instruction.keyword = upper(text.substr(0, end));
  instruction.text = std::string(text);
  instruction.args = std::string(trim(text.substr(end)));
  const KeywordRow* row = nullptr;
  for (const KeywordRow& r : kKeywords)
    if (r.keyword == instruction.keyword)
      row = &r;
  if (row == nullptr)
    return Error(fmt::format("unknown instruction `{}`", text.substr(0, end)));
  instruction.kind = row->kind;
  if (row->flags)
    BERTH_TRY(parseFlags(instruction));
  if (instruction.args.empty())
    return Error(fmt::format("{} needs arguments", instruction.keyword));

  using Kind = DockerInstructionKind;
  Kind kind = instruction.kind;
  if ((kind == Kind::kRun || kind == Kind::kCopy || kind == Kind::kAdd) &&
      hasHeredoc(instruction.args))
    return Error(
        fmt::format("{} with a heredoc (<<) is not supported yet; put the text in a "
                    "file and COPY it",
                    instruction.keyword));
  if (kind == Kind::kRun || kind == Kind::kCmd || kind == Kind::kEntrypoint ||
      kind == Kind::kShell || kind == Kind::kCopy || kind == Kind::kAdd || kind == Kind::kVolume)
    instruction.execForm = parseExecForm(instruction.args, instruction.execArgs);
  if (kind == Kind::kShell && (!instruction.execForm || instruction.execArgs.empty()))
    return Error("SHELL needs the JSON form, e.g. SHELL [\"/bin/bash\", \"-c\"]");
  if (kind == Kind::kFrom) {
    std::vector<std::string> words = splitRawWords(instruction.args);
    if (words.size() != 1 && !(words.size() == 3 && upper(words[1]) == "AS"))
      return Error("FROM takes IMAGE [AS NAME]");
  }
  if (kind == Kind::kOnbuild) {
    // Checked before parsing the trigger, so that ONBUILD ONBUILD ... does not recurse.
    std::string_view trigger = instruction.args;
    std::string inner = upper(trigger.substr(0, trigger.find_first_of(" \t")));
    if (inner == "ONBUILD" || inner == "FROM" || inner == "MAINTAINER")
      return Error(fmt::format("ONBUILD {} is not allowed", inner));
    BERTH_TRY(parseDockerInstruction(trigger, escape));
  }
  if (kind == Kind::kEnv || kind == Kind::kLabel || kind == Kind::kArg)
    BERTH_TRY(splitKeyValues(instruction.args, escape, kind != Kind::kArg));
  return instruction;
}

Result<std::vector<RawKeyValue>> splitKeyValues(std::string_view args, char escape, bool legacy) {
  std::vector<std::string> words = splitRawWords(args, escape);
  std::vector<RawKeyValue> pairs;
  if (words.empty())
    return Error("needs NAME=VALUE");
  if (legacy && words[0].find('=') == std::string::npos) {
    // `ENV NAME VALUE...`: everything after the name is the value.
    std::string_view rest = trim(args);
    size_t space = rest.find_first_of(" \t");
    if (space == std::string_view::npos)
      return Error(fmt::format("`{}` has no value (NAME=VALUE or NAME VALUE)", words[0]));
    pairs.push_back({words[0], std::string(trim(rest.substr(space))), true});
    return pairs;
  }
  for (const std::string& word : words) {
    size_t eq = word.find('=');
    if (eq == 0)
      return Error(fmt::format("`{}` has no name", word));
    if (eq == std::string::npos) {
      if (legacy)
        return Error(fmt::format("`{}` is not NAME=VALUE", word));
      pairs.push_back({word, "", false});
    } else {
      pairs.push_back({word.substr(0, eq), word.substr(eq + 1), true});
    }
  }
  return pairs;
}

Result<DockerfileSyntax> parseDockerfileSyntax(std::string_view text, std::string_view fileName) {
  DockerfileSyntax file;
  std::vector<std::string> lines = split(text, '\n');
  for (std::string& line : lines)
    if (!line.empty() && line.back() == '\r')
      line.pop_back();

  auto located = [&](int line, const Error& error) {
    return Error(fmt::format("{}:{}: {}", fileName, line, error.message()));
  };

  // Parser directives: `# name=value` lines at the very top.
  size_t i = 0;
  for (; i < lines.size(); ++i) {
    std::string_view t = trim(lines[i]);
    if (!t.starts_with('#'))
      break;
    std::string_view body = trim(t.substr(1));
    size_t eq = body.find('=');
    if (eq == std::string_view::npos)
      break;
    std::string name = upper(trim(body.substr(0, eq)));
    std::string_view value = trim(body.substr(eq + 1));
    if (name.empty() ||
        !std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c); }))
      break;
    if (name == "ESCAPE") {
      if (value != "\\" && value != "`")
        return located(static_cast<int>(i + 1),
                       Error(fmt::format("invalid escape `{}`: use \\ or `", value)));
      file.escape = value[0];
    }
  }

  auto continues = [&](std::string_view line, std::string& stripped) {
    std::string_view t = line;
    while (!t.empty() && isBlank(t.back()))
      t.remove_suffix(1);
    if (t.empty() || t.back() != file.escape)
      return false;
    stripped = std::string(t.substr(0, t.size() - 1));
    return true;
  };

  bool seenFrom = false;
  for (; i < lines.size(); ++i) {
    std::string_view t = trim(lines[i]);
    if (t.empty() || t.front() == '#')
      continue;
    int start = static_cast<int>(i + 1);
    std::string logical;
    std::string stripped;
    std::string_view current = lines[i];
    while (continues(current, stripped)) {
      logical += stripped;
      // Comment and empty lines inside a continuation are dropped (Docker's rule).
      do {
        ++i;
      } while (i < lines.size() && (trim(lines[i]).empty() || trim(lines[i]).front() == '#'));
      if (i >= lines.size()) {
        current = {};
        break;
      }
      current = lines[i];
    }
    if (!continues(current, stripped))
      logical += current;

    auto instruction = parseDockerInstruction(logical, file.escape);
    if (!instruction.ok())
      return located(start, instruction.error());
    instruction->line = start;
    if (instruction->kind == DockerInstructionKind::kFrom) {
      seenFrom = true;
      file.stages.push_back({std::move(*instruction), {}});
    } else if (!seenFrom) {
      if (instruction->kind != DockerInstructionKind::kArg)
        return located(start, Error(fmt::format("{} before FROM; only ARG may come first",
                                                instruction->keyword)));
      file.globalArgs.push_back(std::move(*instruction));
    } else {
      file.stages.back().instructions.push_back(std::move(*instruction));
    }
  }
  if (!seenFrom)
    return Error(fmt::format("{}: no FROM instruction", fileName));
  return file;
}

}  // namespace berth::build
