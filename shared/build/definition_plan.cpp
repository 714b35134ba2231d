#include "shared/build/definition_plan.hpp"

#include <fstream>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "shared/image/metadata.hpp"

namespace berth::build {
namespace {

namespace fs = std::filesystem;

// A value for a LABEL line: double-quoted, with what Docker's substitution would change escaped.
std::string labelValue(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\' || c == '$')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

Status writeFile(const fs::path& path, std::string_view content, fs::perms perms) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << content;
  if (!out.flush())
    return Error(fmt::format("write `{}`", path.string()));
  fs::permissions(path, perms, ec);
  return okStatus();
}

std::string scriptFile(const std::string& shell, const std::string& body) {
  return fmt::format("#!{}\n{}", shell.empty() ? "/bin/sh" : shell, body);
}

Result<std::string> fromLine(const DefinitionStage& stage, std::string_view fileName) {
  switch (stage.agent) {
    case BootstrapAgent::kScratch:
      return std::string("scratch");
    case BootstrapAgent::kDocker: {
      std::string name = stage.from;
      if (!stage.nameSpace.empty() && name.find('/') == std::string::npos)
        name = stage.nameSpace + "/" + name;
      if (!stage.registry.empty())
        name = stage.registry + "/" + name;
      return name;
    }
    case BootstrapAgent::kOci:
      return stage.from.find(':') == std::string::npos ? "oci:" + stage.from + ":latest"
                                                       : "oci:" + stage.from;
    default:
      return Error(
          fmt::format("{}:{}: Bootstrap: {} is not supported by berth build yet; use "
                      "docker, oci or scratch",
                      fileName, stage.line, bootstrapAgentName(stage.agent)));
  }
}

}  // namespace

Result<DefinitionPlan> planDefinitionBuild(const DefinitionFile& file,
                                           std::string_view definitionText,
                                           std::string_view fileName, const fs::path& definitionDir,
                                           const fs::path& context) {
  DefinitionPlan plan;
  std::string& out = plan.dockerfile;
  int copies = 0;
  for (size_t index = 0; index < file.stages.size(); ++index) {
    const DefinitionStage& stage = file.stages[index];
    bool last = index + 1 == file.stages.size();
    if (const DefinitionSection* setup = stage.section("setup"))
      return Error(
          fmt::format("{}:{}: %setup is not supported by berth build yet: use %files "
                      "and %post",
                      fileName, setup->lines.empty() ? stage.line : setup->lines[0]));
    BERTH_ASSIGN(std::string from, fromLine(stage, fileName));
    out += fmt::format("FROM {} AS stage{}\n", from, index);
    for (const FilesSection& files : stage.files) {
      for (const FileCopy& copy : files.copies) {
        std::string destination =
            copy.destination.starts_with('/') ? copy.destination : "/" + copy.destination;
        if (!files.fromStage.empty()) {
          int from = -1;
          for (size_t j = 0; j < index; ++j)
            if (file.stages[j].name == files.fromStage)
              from = static_cast<int>(j);
          out +=
              fmt::format("COPY --from=stage{} [{}, {}]\n", from,
                          nlohmann::json(copy.source).dump(), nlohmann::json(destination).dump());
          continue;
        }
        fs::path source = copy.source;
        if (source.is_relative())
          source = definitionDir / source;
        fs::path staged = context / fmt::format("files{}", ++copies) / source.filename();
        std::error_code ec;
        fs::create_directories(staged.parent_path(), ec);
        fs::copy(source, staged, fs::copy_options::recursive, ec);  // links followed (cp -L)
        if (ec)
          return Error(fmt::format("{}:{}: %files `{}`: {}", fileName, copy.line, copy.source,
                                   ec.message()));
        std::string relative = fs::relative(staged, context).string();
        out += fmt::format("COPY [{}, {}]\n", nlohmann::json(relative).dump(),
                           nlohmann::json(destination).dump());
      }
    }
    if (const DefinitionSection* post = stage.section("post")) {
      std::vector<std::string> argv = {post->shell.empty() ? "/bin/sh" : post->shell, "-e", "-x",
                                       "-c", post->body};
      out += fmt::format("RUN {}\n", nlohmann::json(argv).dump());
    }
    for (const auto& [key, value] : stage.labels)
      out += fmt::format("LABEL {}={}\n", labelValue(key), labelValue(value));
    if (!last)
      continue;
    // The last stage's metadata: one layer with /.berth/ files.
    fs::path meta = context / "berth-metadata";
    fs::path dir = meta / image::kMetadataDir;
    constexpr fs::perms kScript = fs::perms::owner_all | fs::perms::group_read |
                                  fs::perms::group_exec | fs::perms::others_read |
                                  fs::perms::others_exec;
    constexpr fs::perms kText = fs::perms::owner_read | fs::perms::owner_write |
                                fs::perms::group_read | fs::perms::others_read;
    BERTH_TRY(writeFile(meta / image::kDefinitionFile, definitionText, kText));
    if (const DefinitionSection* run = stage.section("runscript"))
      BERTH_TRY(
          writeFile(meta / image::kRunscriptFile, scriptFile(run->shell, run->body), kScript));
    if (const DefinitionSection* help = stage.section("help"))
      BERTH_TRY(writeFile(meta / image::kHelpFile, help->body, kText));
    if (const DefinitionSection* env = stage.section("environment"))
      BERTH_TRY(writeFile(meta / image::kEnvironmentFile, env->body, kText));
    if (const DefinitionSection* test = stage.section("test")) {
      BERTH_TRY(writeFile(meta / image::kTestFile, scriptFile(test->shell, test->body), kScript));
      plan.testScript = test->body;
    }
    std::error_code ec;
    fs::permissions(dir, kScript, ec);
    out += "COPY berth-metadata/ /\n";
  }
  return plan;
}

}  // namespace berth::build
