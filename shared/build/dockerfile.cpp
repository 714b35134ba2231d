#include "shared/build/dockerfile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>

#include "shared/build/dockerfile_config.hpp"
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

// Docker's predefined proxy ARGs: RUN sees them without an ARG line, and they are never reported
// as unused.
constexpr std::array<std::string_view, 10> kProxyArgs = {
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
    "ftp_proxy",  "NO_PROXY",   "no_proxy",    "ALL_PROXY",   "all_proxy"};

// The predefined platform ARGs for "os/arch[/variant]" with prefix TARGET or BUILD.
void addPlatformArgs(std::map<std::string, std::string>& out, std::string_view prefix,
                     const std::string& platform) {
  std::vector<std::string> parts = split(platform, '/');
  out[fmt::format("{}PLATFORM", prefix)] = platform;
  out[fmt::format("{}OS", prefix)] = parts.size() > 0 ? parts[0] : "";
  out[fmt::format("{}ARCH", prefix)] = parts.size() > 1 ? parts[1] : "";
  out[fmt::format("{}VARIANT", prefix)] = parts.size() > 2 ? parts[2] : "";
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

  const DockerfileSyntax& syntax_;
  const DockerfileOptions& options_;
  std::map<std::string, std::string> automatic_;
  std::map<std::string, std::optional<std::string>> global_;
  std::set<std::string> consumed_;
  int64_t portBudget_ =
      int64_t{4} * 65536;  // EXPOSE ports expanded from ranges, all stages together
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
        BERTH_TRY(addExposedPorts(spec, config.exposedPorts, portBudget_));
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
    case Kind::kHealthcheck: {
      BERTH_ASSIGN(HealthcheckConfig check, parseHealthcheck(instruction));
      out.healthcheck = check;
      config.healthcheck = check;
      break;
    }
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
  for (const auto& arg : scope.args) {
    if (instruction.kind != Kind::kRun)
      break;
    bool overridden = std::any_of(config.env.begin(), config.env.end(),
                                  [&](const auto& entry) { return entry.first == arg.first; });
    if (arg.second && !overridden)
      out.environment.push_back(fmt::format("{}={}", arg.first, *arg.second));
  }
  for (const auto& [key, value] : config.env)
    if (instruction.kind == Kind::kRun)
      out.environment.push_back(fmt::format("{}={}", key, value));
  for (std::string_view proxy : kProxyArgs) {
    auto given = options_.buildArgs.find(std::string(proxy));
    if (instruction.kind != Kind::kRun || given == options_.buildArgs.end() ||
        scope.value(proxy).has_value())
      continue;
    consumed_.insert(given->first);
    out.proxyEnvironment.push_back(fmt::format("{}={}", given->first, given->second));
  }
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

}  // namespace

Result<Dockerfile> parseDockerfile(std::string_view text, const DockerfileOptions& options) {
  BERTH_ASSIGN(DockerfileSyntax syntax, parseDockerfileSyntax(text, options.fileName));
  return Evaluator(syntax, options).run();
}

}  // namespace berth::build
