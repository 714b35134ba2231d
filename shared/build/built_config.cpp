#include "shared/build/built_config.hpp"

#include <ctime>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "shared/core/strings.hpp"

namespace berth::build {
namespace {

using nlohmann::json;

std::vector<std::string> stringList(const json& value) {
  std::vector<std::string> out;
  if (value.is_array())
    for (const json& item : value)
      if (item.is_string())
        out.push_back(item.get<std::string>());
  return out;
}

}  // namespace

std::string rfc3339(int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<BaseImageConfig> baseConfigFromOci(const std::string& configJson) {
  BaseImageConfig base;
  if (configJson.empty())
    return base;
  json doc = json::parse(configJson, nullptr, false);
  if (!doc.is_object())
    return Error("the base image's config is not a JSON object");
  const json config = doc.value("config", json::object());
  if (!config.is_object())
    return base;
  StageConfig& out = base.config;
  for (const std::string& item : stringList(config.value("Env", json::array()))) {
    size_t eq = item.find('=');
    if (eq == std::string::npos)
      out.env.emplace_back(item, "");
    else
      out.env.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  out.workdir = config.value("WorkingDir", "");
  out.user = config.value("User", "");
  if (config.contains("Cmd") && config["Cmd"].is_array())
    out.cmd = stringList(config["Cmd"]);
  if (config.contains("Entrypoint") && config["Entrypoint"].is_array())
    out.entrypoint = stringList(config["Entrypoint"]);
  if (config.contains("Shell") && config["Shell"].is_array() && !config["Shell"].empty())
    out.shell = stringList(config["Shell"]);
  if (config.contains("Labels") && config["Labels"].is_object())
    for (const auto& [key, value] : config["Labels"].items())
      if (value.is_string())
        out.labels[key] = value.get<std::string>();
  if (config.contains("ExposedPorts") && config["ExposedPorts"].is_object())
    for (const auto& [key, value] : config["ExposedPorts"].items())
      out.exposedPorts.insert(key);
  if (config.contains("Volumes") && config["Volumes"].is_object())
    for (const auto& [key, value] : config["Volumes"].items())
      out.volumes.insert(key);
  out.stopSignal = config.value("StopSignal", "");
  out.onBuild = stringList(config.value("OnBuild", json::array()));
  return base;
}

Result<std::string> builtConfigJson(const BuiltConfigInput& input) {
  json doc = json::object();
  if (!input.baseConfigJson.empty()) {
    doc = json::parse(input.baseConfigJson, nullptr, false);
    if (!doc.is_object())
      return Error("the base image's config is not a JSON object");
  }
  std::vector<std::string> platform = split(input.platform, '/');
  if (!doc.contains("os") && platform.size() >= 2) {
    doc["os"] = platform[0];
    doc["architecture"] = platform[1];
    if (platform.size() > 2)
      doc["variant"] = platform[2];
  }
  doc["created"] = input.created;
  json& config = doc["config"];
  if (!config.is_object())
    config = json::object();
  const StageConfig& stage = input.config;
  json env = json::array();
  for (const auto& [name, value] : stage.env)
    env.push_back(name + "=" + value);
  auto setOrErase = [&config](const char* key, json value, bool set) {
    if (set)
      config[key] = std::move(value);
    else
      config.erase(key);
  };
  setOrErase("Env", env, !env.empty());
  setOrErase("WorkingDir", stage.workdir, !stage.workdir.empty());
  setOrErase("User", stage.user, !stage.user.empty());
  setOrErase("Cmd", stage.cmd ? json(*stage.cmd) : json(), stage.cmd.has_value());
  setOrErase("Entrypoint", stage.entrypoint ? json(*stage.entrypoint) : json(),
             stage.entrypoint.has_value());
  bool defaultShell = stage.shell == std::vector<std::string>{"/bin/sh", "-c"};
  setOrErase("Shell", stage.shell, !defaultShell);
  setOrErase("Labels", json(stage.labels), !stage.labels.empty());
  json ports = json::object();
  for (const std::string& port : stage.exposedPorts)
    ports[port] = json::object();
  setOrErase("ExposedPorts", ports, !ports.empty());
  json volumes = json::object();
  for (const std::string& volume : stage.volumes)
    volumes[volume] = json::object();
  setOrErase("Volumes", volumes, !volumes.empty());
  setOrErase("StopSignal", stage.stopSignal, !stage.stopSignal.empty());
  setOrErase("OnBuild", stage.onBuild, !stage.onBuild.empty());
  if (stage.healthcheck) {
    const HealthcheckConfig& check = *stage.healthcheck;
    json health = {{"Test", check.test}};
    if (check.intervalNs)
      health["Interval"] = check.intervalNs;
    if (check.timeoutNs)
      health["Timeout"] = check.timeoutNs;
    if (check.startPeriodNs)
      health["StartPeriod"] = check.startPeriodNs;
    if (check.startIntervalNs)
      health["StartInterval"] = check.startIntervalNs;
    if (check.retries)
      health["Retries"] = check.retries;
    config["Healthcheck"] = health;
  }
  json& rootfs = doc["rootfs"];
  if (!rootfs.is_object())
    rootfs = json::object();
  rootfs["type"] = "layers";
  json& diffIds = rootfs["diff_ids"];
  if (!diffIds.is_array())
    diffIds = json::array();
  for (const std::string& id : input.diffIds)
    diffIds.push_back(id);
  json& history = doc["history"];
  if (!history.is_array())
    history = json::array();
  for (const HistoryEntry& entry : input.history) {
    json item = {{"created", entry.created}, {"created_by", entry.createdBy}};
    if (entry.emptyLayer)
      item["empty_layer"] = true;
    history.push_back(std::move(item));
  }
  return doc.dump();
}

std::string builtManifestJson(const image::Descriptor& config,
                              const std::vector<image::Descriptor>& layers) {
  auto descriptor = [](const image::Descriptor& d) {
    json out = {{"mediaType", d.mediaType}, {"digest", d.digest}, {"size", d.size}};
    if (!d.urls.empty())
      out["urls"] = d.urls;
    return out;
  };
  json list = json::array();
  for (const image::Descriptor& layer : layers)
    list.push_back(descriptor(layer));
  json doc = {{"schemaVersion", 2},
              {"mediaType", kOciManifestType},
              {"config", descriptor(config)},
              {"layers", list}};
  return doc.dump();
}

}  // namespace berth::build
