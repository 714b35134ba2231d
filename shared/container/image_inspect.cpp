#include "shared/container/image_inspect.hpp"

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shared/container/environment.hpp"
#include "shared/convert/image_files.hpp"

namespace berth::container {

Result<InspectReport> inspectImage(const ImageLocation& image) {
  InspectReport report;
  report.image = image;
  if (image.kind == ImageKind::kSquashfs) {
    std::error_code ec;
    report.sizeBytes = std::filesystem::file_size(image.path, ec);
  }
  BERTH_ASSIGN(auto config,
               convert::readImageFile(image, image::kConfigFile, convert::kMaxImageConfigBytes));
  if (config) {
    auto parsed = image::parseImageConfig(*config);
    if (!parsed.ok())
      return std::move(parsed).error().withContext("/.berth/config.json");
    report.config = std::move(parsed).value();
    report.hasConfig = true;
  }
  BERTH_ASSIGN(auto source, convert::readImageFile(image, image::kSourceFile));
  if (source) {
    auto parsed = image::parseImageSource(*source);
    if (!parsed.ok())
      return std::move(parsed).error().withContext("/.berth/source.json");
    report.source = std::move(parsed).value();
  }
  BERTH_ASSIGN(report.runscript, convert::readImageFile(image, image::kRunscriptFile));
  BERTH_ASSIGN(report.help, convert::readImageFile(image, image::kHelpFile));
  BERTH_ASSIGN(report.definition, convert::readImageFile(image, image::kDefinitionFile));
  BERTH_ASSIGN(report.test, convert::readImageFile(image, image::kTestFile));
  BERTH_ASSIGN(report.environment, convert::readImageFile(image, image::kEnvironmentFile));
  return report;
}

namespace {

std::string platformOf(const InspectReport& report) {
  if (report.source && !report.source->platform.empty())
    return report.source->platform;
  return report.config.architecture.empty() ? std::string() : image::platformString(report.config);
}

std::string quoteList(const std::vector<std::string>& items) {
  return nlohmann::json(items).dump();
}

}  // namespace

std::string inspectText(const InspectReport& r) {
  std::string out;
  auto line = [&](std::string_view key, std::string_view value) {
    out += fmt::format("{:<12}{}\n", fmt::format("{}:", key), value.empty() ? "-" : value);
  };
  line("Image", r.image.path.string());
  line("Digest", r.source ? r.source->digest : "");
  line("Source", r.source ? r.source->reference : "");
  line("Created", r.source ? r.source->created : "");
  line("Platform", platformOf(r));
  line("Size", r.image.kind == ImageKind::kDirectory ? "(sandbox directory)"
                                                     : fmt::format("{} bytes", r.sizeBytes));
  line("Entrypoint", r.config.entrypoint.empty() ? "" : quoteList(r.config.entrypoint));
  line("Cmd", r.config.cmd.empty() ? "" : quoteList(r.config.cmd));
  line("WorkingDir", r.config.workingDir);
  line("User", r.config.user);
  out += "Env:\n";
  for (const auto& entry : r.config.env)
    out += fmt::format("  {}\n", entry);
  out += "Labels:\n";
  for (const auto& [key, value] : r.config.labels)
    out += fmt::format("  {}={}\n", key, value);
  auto block = [&](std::string_view title, const std::optional<std::string>& text) {
    if (!text)
      return;
    out += fmt::format("{}:\n{}", title, *text);
    if (!text->empty() && text->back() != '\n')
      out += "\n";
  };
  block("Runscript", r.runscript);
  block("Help", r.help);
  block("Test", r.test);
  block("Environment", r.environment);
  block("Definition", r.definition);
  return out;
}

std::string inspectJson(const InspectReport& r) {
  nlohmann::json j;
  j["image"] = r.image.path.string();
  j["kind"] = r.image.kind == ImageKind::kDirectory ? "sandbox" : "squashfs";
  j["digest"] = r.source ? r.source->digest : "";
  j["source"] = r.source ? r.source->reference : "";
  j["created"] = r.source ? r.source->created : "";
  j["platform"] = platformOf(r);
  j["size"] = r.sizeBytes;
  j["labels"] = r.config.labels;
  j["env"] = r.config.env;
  j["entrypoint"] = r.config.entrypoint;
  j["cmd"] = r.config.cmd;
  j["workingDir"] = r.config.workingDir;
  j["user"] = r.config.user;
  auto optional = [&](const char* key, const std::optional<std::string>& text) {
    j[key] = text ? nlohmann::json(*text) : nlohmann::json(nullptr);
  };
  optional("runscript", r.runscript);
  optional("help", r.help);
  optional("definition", r.definition);
  optional("test", r.test);
  optional("environment", r.environment);
  return j.dump(2) + "\n";
}

namespace {

// `text` ending in a newline (files may lack the last one).
std::string withFinalNewline(std::string text) {
  if (!text.empty() && text.back() != '\n')
    text += '\n';
  return text;
}

InspectPart filePart(const std::optional<std::string>& text, std::string_view what,
                     std::string_view file) {
  if (!text)
    return {std::nullopt, fmt::format("the image has no {} (/{})", what, file)};
  return {withFinalNewline(*text), {}};
}

}  // namespace

InspectPart inspectPart(const InspectReport& r, InspectItem item) {
  switch (item) {
    case InspectItem::kRunscript:
      return filePart(r.runscript, "runscript", image::kRunscriptFile);
    case InspectItem::kHelp:
      return filePart(r.help, "help", image::kHelpFile);
    case InspectItem::kDefinition:
      return filePart(r.definition, "definition file", image::kDefinitionFile);
    case InspectItem::kLabels: {
      if (r.config.labels.empty())
        return {std::nullopt, "the image has no labels"};
      std::string out;
      for (const auto& [key, value] : r.config.labels)
        out += fmt::format("{}={}\n", key, value);
      return {out, {}};
    }
    case InspectItem::kEnvironment: {
      if (r.environment)
        return {withFinalNewline(*r.environment), {}};
      if (r.config.env.empty())
        return {std::nullopt, "the image sets no environment"};
      // What the image's Env amounts to, in the form a %environment would say it.
      std::string out;
      for (const auto& entry : r.config.env) {
        size_t eq = entry.find('=');
        if (eq != std::string::npos)
          out += fmt::format("export {}={}\n", entry.substr(0, eq),
                             shellQuoted(std::string_view(entry).substr(eq + 1)));
      }
      return {out, {}};
    }
  }
  return {};
}

std::string runHelpText(const InspectReport& r) {
  if (!r.help)
    return "No help for this image (it has no /.berth/help).\n";
  return withFinalNewline(*r.help);
}

}  // namespace berth::container
