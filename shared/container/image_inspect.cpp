#include "shared/container/image_inspect.hpp"

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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
  return j.dump(2) + "\n";
}

}  // namespace berth::container
