#include "shared/build/dockerfile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>

#include "shared/build/shell_lex.hpp"
#include "shared/core/strings.hpp"

namespace berth::build {
namespace {

using Kind = DockerInstructionKind;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// "/a/./b/../c//" -> "/a/c".
std::string cleanAbsolutePath(std::string_view path) {
  std::vector<std::string> parts;
  for (const std::string& part : split(path, '/')) {
    if (part.empty() || part == ".")
      continue;
    if (part == "..") {
      if (!parts.empty())
        parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (const std::string& part : parts)
    out += "/" + part;
  return out.empty() ? "/" : out;
}

// The predefined platform ARGs for "os/arch[/variant]" with prefix TARGET or BUILD.
void addPlatformArgs(std::map<std::string, std::string>& out, std::string_view prefix,
                     const std::string& platform) {
  std::vector<std::string> parts = split(platform, '/');
  out[fmt::format("{}PLATFORM", prefix)] = platform;
  out[fmt::format("{}OS", prefix)] = parts.size() > 0 ? parts[0] : "";
  out[fmt::format("{}ARCH", prefix)] = parts.size() > 1 ? parts[1] : "";
  out[fmt::format("{}VARIANT", prefix)] = parts.size() > 2 ? parts[2] : "";
}

// EXPOSE's "80", "80/udp", "8000-8002/tcp" -> {"80/tcp"}, ...
Status addPorts(std::string_view spec, std::set<std::string>& out, int64_t& budget) {
  std::string_view ports = spec;
  std::string protocol = "tcp";
  if (size_t slash = spec.find('/'); slash != std::string_view::npos) {
    ports = spec.substr(0, slash);
    protocol = lower(spec.substr(slash + 1));
  }
  if (protocol != "tcp" && protocol != "udp" && protocol != "sctp")
    return Error(fmt::format("EXPOSE `{}`: protocol must be tcp, udp or sctp", spec));
  auto number = [&](std::string_view text) -> Result<int> {
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > 65535)
      return Error(fmt::format("EXPOSE `{}`: invalid port", spec));
    return value;
  };
  size_t dash = ports.find('-');
  BERTH_ASSIGN(int first, number(ports.substr(0, dash)));
  int last = first;
  if (dash != std::string_view::npos) {
    BERTH_ASSIGN(last, number(ports.substr(dash + 1)));
  }
  if (last < first)
    return Error(fmt::format("EXPOSE `{}`: invalid port range", spec));
  budget -= last - first + 1;
  if (budget < 0)
    return Error(fmt::format("EXPOSE `{}`: too many ports in one Dockerfile", spec));
  for (int port = first; port <= last; ++port)
    out.insert(fmt::format("{}/{}", port, protocol));
  return okStatus();
}

class Evaluator {
 public:
  Evaluator(const DockerfileSyntax& syntax, const DockerfileOptions& options)
      : syntax_(syntax), options_(options) {
    addPlatformArgs(automatic_, "TARGET", options.targetPlatform);
    addPlatformArgs(automatic_, "BUILD", options.buildPlatform);
  }

  Result<Dockerfile> run() {
    for (const DockerInstruction& arg : syntax_.globalArgs)
      BERTH_TRY(located(arg.line, declareGlobal(arg)));
    for (const DockerStageSyntax& stage : syntax_.stages)
      BERTH_TRY(evaluateStage(stage));
    for (const auto& [name, value] : options_.buildArgs)
      if (!consumed_.contains(name))
        file_.unusedBuildArgs.push_back(name);
    return std::move(file_);
  }

 private:
  Status located(int line, Status status) const {
    if (status.ok())
      return status;
    return Error(fmt::format("{}:{}: {}", options_.fileName, line, status.error().message()));
  }

  std::optional<std::string> buildArg(const std::string& name) {
    auto it = options_.buildArgs.find(name);
    if (it == options_.buildArgs.end())
      return std::nullopt;
    consumed_.insert(name);
    return it->second;
  }

  // Global scope: global ARGs, then the predefined platform ARGs.
  std::optional<std::string> globalValue(std::string_view name) const {
    if (auto it = global_.find(std::string(name)); it != global_.end())
      return it->second;
    if (auto it = automatic_.find(std::string(name)); it != automatic_.end())
      return it->second;
    return std::nullopt;
  }

  Status declareGlobal(const DockerInstruction& arg) {
    BERTH_ASSIGN(auto pairs, splitKeyValues(arg.args, syntax_.escape, false));
    VariableLookup lookup = [this](std::string_view name) { return globalValue(name); };
    for (const RawKeyValue& pair : pairs) {
      std::optional<std::string> value = buildArg(pair.key);
      if (!value && pair.hasValue) {
        BERTH_ASSIGN(value, expandWord(pair.value, lookup, syntax_.escape));
      }
      global_[pair.key] = value;
    }
    return okStatus();
  }

  // Stage scope: ENV overrides ARG.
  struct Scope {
    std::vector<std::pair<std::string, std::optional<std::string>>> args;
    StageConfig config;
    bool cmdSet = false;

    std::optional<std::string> value(std::string_view name) const {
      for (const auto& [key, value] : config.env)
        if (key == name)
          return value;
      for (const auto& [key, value] : args)
        if (key == name)
          return value;
      return std::nullopt;
    }
  };

  Status evaluateStage(const DockerStageSyntax& syntax) {
    DockerStage stage;
    stage.line = syntax.from.line;
    Scope scope;
    BERTH_TRY(located(stage.line, resolveFrom(syntax.from, stage, scope)));
    // The base's ONBUILD triggers run first; the image passes none of them on.
    std::vector<std::string> triggers = std::move(scope.config.onBuild);
    scope.config.onBuild.clear();
    for (const std::string& trigger : triggers) {
      auto instruction = parseDockerInstruction(trigger, syntax_.escape);
      if (!instruction.ok())
        return located(stage.line, Error(fmt::format("ONBUILD trigger of the base `{}`: {}",
                                                     trigger, instruction.error().message())));
      instruction->line = stage.line;
      BERTH_TRY(located(stage.line, step(*instruction, stage, scope, true)));
    }
    for (const DockerInstruction& instruction : syntax.instructions)
      BERTH_TRY(located(instruction.line, step(instruction, stage, scope, false)));
    stage.config = std::move(scope.config);
    file_.stages.push_back(std::move(stage));
    return okStatus();
  }

  Status resolveFrom(const DockerInstruction& from, DockerStage& stage, Scope& scope) {
    VariableLookup lookup = [this](std::string_view name) { return globalValue(name); };
    for (const auto& [name, value] : from.flags) {
      if (name == "platform") {
        BERTH_ASSIGN(stage.platform, expandWord(value, lookup, syntax_.escape));
      }
    }
    std::vector<std::string> words = splitRawWords(from.args, syntax_.escape);
    BERTH_ASSIGN(stage.base, expandWord(words[0], lookup, syntax_.escape));
    if (stage.base.empty())
      return Error(
          fmt::format("FROM `{}` names no image; define the ARG or pass --build-arg", words[0]));
    if (words.size() == 3) {
      stage.name = lower(words[2]);
      bool valid = std::isalpha(static_cast<unsigned char>(stage.name[0])) &&
                   std::all_of(stage.name.begin(), stage.name.end(), [](unsigned char c) {
                     return std::isalnum(c) || c == '-' || c == '_' || c == '.';
                   });
      if (!valid)
        return Error(fmt::format("invalid stage name `{}`", words[2]));
      for (const DockerStage& earlier : file_.stages)
        if (earlier.name == stage.name)
          return Error(fmt::format("stage name `{}` is used twice", stage.name));
    }
    std::string baseName = lower(stage.base);
    for (size_t j = 0; j < file_.stages.size(); ++j) {
      if (!file_.stages[j].name.empty() && file_.stages[j].name == baseName) {
        stage.baseStage = static_cast<int>(j);
        scope.config = file_.stages[j].config;
        return okStatus();
      }
    }
    if (baseName == "scratch" || !options_.baseImage)
      return okStatus();
    auto base = options_.baseImage(stage.base, stage.platform);
    if (!base.ok())
      return std::move(base).error().withContext(fmt::format("FROM {}", stage.base));
    scope.config = std::move(base->config);
    return okStatus();
  }

  Status step(const DockerInstruction& instruction, DockerStage& stage, Scope& scope,
              bool fromOnBuild);
  Status fileStep(const DockerInstruction& instruction, DockerStep& out, const DockerStage& stage,
                  const VariableLookup& lookup);
  Status healthcheckStep(const DockerInstruction& instruction, DockerStep& out);

  const DockerfileSyntax& syntax_;
  const DockerfileOptions& options_;
  std::map<std::string, std::string> automatic_;
  std::map<std::string, std::optional<std::string>> global_;
  std::set<std::string> consumed_;
  int64_t portBudget_ = 4 * 65536;  // EXPOSE ports expanded from ranges, all stages together
  Dockerfile file_;
};

Status Evaluator::step(const DockerInstruction& instruction, DockerStage& stage, Scope& scope,
                       bool fromOnBuild) {
  DockerStep out;
  out.kind = instruction.kind;
  out.keyword = instruction.keyword;
  out.line = instruction.line;
  out.text = instruction.text;
  out.fromOnBuild = fromOnBuild;
  out.execForm = instruction.execForm;
  const char escape = syntax_.escape;
  // Expansion sees the variables from before this instruction.
  Scope before = scope;
  VariableLookup lookup = [&before](std::string_view name) { return before.value(name); };
  StageConfig& config = scope.config;
  auto command = [&]() {
    if (instruction.execForm)
      return instruction.execArgs;
    std::vector<std::string> argv = config.shell;
    argv.push_back(instruction.args);
    return argv;
  };

  switch (instruction.kind) {
    case Kind::kFrom:
      return Error("FROM inside a stage");  // the syntax parser starts a stage at each FROM
    case Kind::kArg: {
      BERTH_ASSIGN(auto pairs, splitKeyValues(instruction.args, escape, false));
      for (const RawKeyValue& pair : pairs) {
        std::optional<std::string> value = buildArg(pair.key);
        if (!value && pair.hasValue) {
          BERTH_ASSIGN(value, expandWord(pair.value, lookup, escape));
        }
        if (!value)
          value = globalValue(pair.key);
        std::erase_if(scope.args, [&](const auto& arg) { return arg.first == pair.key; });
        scope.args.emplace_back(pair.key, value);
        out.keyValues.emplace_back(pair.key, value.value_or(""));
      }
      break;
    }
    case Kind::kEnv:
    case Kind::kLabel: {
      BERTH_ASSIGN(auto pairs, splitKeyValues(instruction.args, escape, true));
      for (const RawKeyValue& pair : pairs) {
        BERTH_ASSIGN(std::string key, expandWord(pair.key, lookup, escape));
        BERTH_ASSIGN(std::string value, expandWord(pair.value, lookup, escape));
        if (key.empty())
          return Error(fmt::format("{} with an empty name", instruction.keyword));
        out.keyValues.emplace_back(key, value);
        if (instruction.kind == Kind::kLabel) {
          config.labels[key] = value;
          continue;
        }
        auto it = std::find_if(config.env.begin(), config.env.end(),
                               [&](const auto& entry) { return entry.first == key; });
        if (it != config.env.end())
          it->second = value;
        else
          config.env.emplace_back(key, value);
      }
      break;
    }
    case Kind::kWorkdir: {
      BERTH_ASSIGN(std::string dir, expandWord(instruction.args, lookup, escape));
      if (dir.empty())
        return Error("WORKDIR expands to nothing");
      std::string current = config.workdir.empty() ? "/" : config.workdir;
      config.workdir = cleanAbsolutePath(dir.front() == '/' ? dir : current + "/" + dir);
      out.args = {config.workdir};
      break;
    }
    case Kind::kUser: {
      BERTH_ASSIGN(config.user, expandWord(instruction.args, lookup, escape));
      if (config.user.empty())
        return Error("USER expands to nothing");
      out.args = {config.user};
      break;
    }
    case Kind::kStopSignal: {
      BERTH_ASSIGN(config.stopSignal, expandWord(instruction.args, lookup, escape));
      out.args = {config.stopSignal};
      break;
    }
    case Kind::kRun:
      out.argv = command();
      break;
    case Kind::kCmd:
      out.argv = command();
      config.cmd = out.argv;
      scope.cmdSet = true;
      break;
    case Kind::kEntrypoint:
      out.argv = command();
      config.entrypoint = out.argv;
      if (!scope.cmdSet)
        config.cmd.reset();  // Docker: a new ENTRYPOINT drops the base's CMD
      break;
    case Kind::kShell:
      config.shell = instruction.execArgs;
      break;
    case Kind::kExpose: {
      BERTH_ASSIGN(out.args, expandWords(instruction.args, lookup, escape));
      for (const std::string& spec : out.args)
        BERTH_TRY(addPorts(spec, config.exposedPorts, portBudget_));
      break;
    }
    case Kind::kVolume: {
      if (instruction.execForm) {
        for (const std::string& element : instruction.execArgs) {
          BERTH_ASSIGN(std::string path, expandWord(element, lookup, escape));
          out.args.push_back(path);
        }
      } else {
        BERTH_ASSIGN(out.args, expandWords(instruction.args, lookup, escape));
      }
      for (const std::string& path : out.args) {
        if (path.empty())
          return Error("VOLUME with an empty path");
        config.volumes.insert(path);
      }
      break;
    }
    case Kind::kHealthcheck:
      BERTH_TRY(healthcheckStep(instruction, out));
      config.healthcheck = out.healthcheck;
      break;
    case Kind::kOnbuild:
      out.onBuild = instruction.args;
      config.onBuild.push_back(instruction.args);
      break;
    case Kind::kMaintainer:
      out.args = {instruction.args};
      config.labels["maintainer"] = instruction.args;
      break;
    case Kind::kCopy:
    case Kind::kAdd:
      BERTH_TRY(fileStep(instruction, out, stage, lookup));
      break;
  }

  // The state the step runs in (the environment only where a command runs).
  for (const auto& [key, value] : scope.args) {
    if (instruction.kind != Kind::kRun)
      break;
    bool overridden = std::any_of(config.env.begin(), config.env.end(),
                                  [&](const auto& entry) { return entry.first == key; });
    if (value && !overridden)
      out.environment.push_back(key + "=" + *value);
  }
  for (const auto& [key, value] : config.env)
    if (instruction.kind == Kind::kRun)
      out.environment.push_back(key + "=" + value);
  out.workdir = config.workdir.empty() ? "/" : config.workdir;
  out.user = config.user;
  out.shell = config.shell;
  stage.steps.push_back(std::move(out));
  return okStatus();
}

Status Evaluator::fileStep(const DockerInstruction& instruction, DockerStep& out,
                           const DockerStage& stage, const VariableLookup& lookup) {
  const char escape = syntax_.escape;
  for (const auto& [name, value] : instruction.flags) {
    BERTH_ASSIGN(std::string expanded, expandWord(value, lookup, escape));
    out.flags[name] = expanded;
  }
  if (instruction.execForm) {
    for (const std::string& element : instruction.execArgs) {
      BERTH_ASSIGN(std::string word, expandWord(element, lookup, escape));
      out.args.push_back(word);
    }
  } else {
    BERTH_ASSIGN(out.args, expandWords(instruction.args, lookup, escape));
  }
  if (out.args.size() < 2)
    return Error(fmt::format("{} needs a source and a destination", instruction.keyword));
  if (auto chmod = out.flags.find("chmod"); chmod != out.flags.end()) {
    const std::string& mode = chmod->second;
    if (mode.empty() || mode.size() > 4 ||
        !std::all_of(mode.begin(), mode.end(), [](char c) { return c >= '0' && c <= '7'; }))
      return Error(fmt::format("--chmod={}: give an octal mode such as 0755", mode));
  }
  if (auto from = out.flags.find("from"); from != out.flags.end()) {
    if (instruction.kind == Kind::kAdd)
      return Error("ADD takes no --from; use COPY --from");
    std::string name = lower(from->second);
    if (!stage.name.empty() && name == stage.name)
      return Error(fmt::format("COPY --from={} names its own stage", from->second));
    for (size_t j = 0; j < file_.stages.size(); ++j)
      if (file_.stages[j].name == name || std::to_string(j) == name)
        out.fromStage = static_cast<int>(j);
    if (out.fromStage < 0 && name == std::to_string(file_.stages.size()))
      return Error(fmt::format("COPY --from={} names its own stage", from->second));
  }
  return okStatus();
}

Status Evaluator::healthcheckStep(const DockerInstruction& instruction, DockerStep& out) {
  HealthcheckConfig check;
  std::string_view args = trim(instruction.args);
  size_t space = args.find_first_of(" \t");
  std::string first = lower(args.substr(0, space));
  std::string_view rest = space == std::string_view::npos ? "" : trim(args.substr(space));
  if (first == "none") {
    if (!rest.empty() || !instruction.flags.empty())
      return Error("HEALTHCHECK NONE takes no other arguments");
    check.test = {"NONE"};
    out.healthcheck = check;
    return okStatus();
  }
  if (first != "cmd" || rest.empty())
    return Error("HEALTHCHECK takes [OPTIONS] CMD COMMAND, or NONE");
  for (const auto& [name, value] : instruction.flags) {
    if (name == "retries") {
      int retries = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), retries);
      if (ec != std::errc() || end != value.data() + value.size() || retries < 0)
        return Error(fmt::format("HEALTHCHECK --retries={}: not a count", value));
      check.retries = retries;
      continue;
    }
    BERTH_ASSIGN(int64_t ns, parseGoDuration(value).withContext(
                                 fmt::format("HEALTHCHECK --{}={}", name, value)));
    (name == "interval"       ? check.intervalNs
     : name == "timeout"      ? check.timeoutNs
     : name == "start-period" ? check.startPeriodNs
                              : check.startIntervalNs) = ns;
  }
  auto parsed = parseDockerInstruction(fmt::format("CMD {}", rest));
  if (parsed.ok() && parsed->execForm) {
    check.test = {"CMD"};
    check.test.insert(check.test.end(), parsed->execArgs.begin(), parsed->execArgs.end());
  } else {
    check.test = {"CMD-SHELL", std::string(rest)};
  }
  out.healthcheck = check;
  return okStatus();
}

}  // namespace

Result<Dockerfile> parseDockerfile(std::string_view text, const DockerfileOptions& options) {
  BERTH_ASSIGN(DockerfileSyntax syntax, parseDockerfileSyntax(text, options.fileName));
  return Evaluator(syntax, options).run();
}

Result<int64_t> parseGoDuration(std::string_view text) {
  // Units, longest first so "ms" is not read as "m".
  struct Unit {
    std::string_view name;
    double ns;
  };
  constexpr std::array kUnits = {Unit{"ns", 1},  Unit{"us", 1e3}, Unit{"µs", 1e3},  Unit{"ms", 1e6},
                                 Unit{"s", 1e9}, Unit{"m", 60e9}, Unit{"h", 3600e9}};
  if (text == "0")
    return int64_t{0};
  if (text.empty())
    return Error("empty duration");
  double total = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t digits = 0;
    while (digits < rest.size() &&
           (std::isdigit(static_cast<unsigned char>(rest[digits])) || rest[digits] == '.'))
      ++digits;
    if (digits == 0)
      return Error(fmt::format("invalid duration `{}`", text));
    double value = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + digits, value);
    if (ec != std::errc() || end != rest.data() + digits)
      return Error(fmt::format("invalid duration `{}`", text));
    rest.remove_prefix(digits);
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits)
      if (rest.starts_with(u.name) && (unit == nullptr || u.name.size() > unit->name.size()))
        unit = &u;
    if (unit == nullptr)
      return Error(fmt::format("duration `{}` lacks a unit (ns, us, ms, s, m, h)", text));
    rest.remove_prefix(unit->name.size());
    total += value * unit->ns;
  }
  if (total > 9.2e18)
    return Error(fmt::format("duration `{}` is too long", text));
  return static_cast<int64_t>(std::llround(total));
}

}  // namespace berth::build
