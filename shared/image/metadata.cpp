#include "shared/image/metadata.hpp"

#include <sys/utsname.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace berth::image {
namespace {

using nlohmann::json;

// Reads `object[key]` as T when present and not null; leaves `out` alone otherwise.
template <typename T>
Status readField(const json& object, const char* key, T& out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null())
    return okStatus();
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    return Error(fmt::format("field `{}` has the wrong type ({})", key, it->type_name()));
  }
  return okStatus();
}

Result<json> parseObject(std::string_view text) {
  json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded())
    return Error("not valid JSON");
  if (!document.is_object())
    return Error("not a JSON object");
  return document;
}

// GOARCH names for the kernel's machine names (uname -m).
struct MachineArch {
  std::string_view machine;
  std::string_view architecture;
  std::string_view variant;
};
constexpr MachineArch kMachineArchs[] = {
    {"x86_64", "amd64", ""},   // PC, 64-bit
    {"aarch64", "arm64", ""},  // ARMv8 64-bit; OCI leaves the v8 variant implicit
    {"ppc64le", "ppc64le", ""}, {"s390x", "s390x", ""}, {"riscv64", "riscv64", ""},
};

}  // namespace

Result<ImageConfig> parseImageConfig(std::string_view text) {
  BERTH_ASSIGN(json document, parseObject(text).withContext("image config"));
  ImageConfig config;
  auto read = [&](const json& object, const char* key, auto& out) {
    return readField(object, key, out).withContext("image config");
  };
  BERTH_TRY(read(document, "architecture", config.architecture));
  BERTH_TRY(read(document, "os", config.os));
  BERTH_TRY(read(document, "variant", config.variant));
  auto inner = document.find("config");
  if (inner != document.end() && inner->is_object()) {
    BERTH_TRY(read(*inner, "Env", config.env));
    BERTH_TRY(read(*inner, "Entrypoint", config.entrypoint));
    BERTH_TRY(read(*inner, "Cmd", config.cmd));
    BERTH_TRY(read(*inner, "WorkingDir", config.workingDir));
    BERTH_TRY(read(*inner, "User", config.user));
    BERTH_TRY(read(*inner, "Labels", config.labels));
  }
  auto rootfs = document.find("rootfs");
  if (rootfs != document.end() && rootfs->is_object())
    BERTH_TRY(read(*rootfs, "diff_ids", config.diffIds));
  return config;
}

std::string serializeImageConfig(const ImageConfig& config) {
  json inner = json::object();
  if (!config.env.empty())
    inner["Env"] = config.env;
  if (!config.entrypoint.empty())
    inner["Entrypoint"] = config.entrypoint;
  if (!config.cmd.empty())
    inner["Cmd"] = config.cmd;
  if (!config.workingDir.empty())
    inner["WorkingDir"] = config.workingDir;
  if (!config.user.empty())
    inner["User"] = config.user;
  if (!config.labels.empty())
    inner["Labels"] = config.labels;
  json document{{"architecture", config.architecture}, {"os", config.os}, {"config", inner}};
  if (!config.variant.empty())
    document["variant"] = config.variant;
  if (!config.diffIds.empty())
    document["rootfs"] = {{"type", "layers"}, {"diff_ids", config.diffIds}};
  return document.dump(2);
}

Result<ImageSource> parseImageSource(std::string_view text) {
  BERTH_ASSIGN(json document, parseObject(text).withContext("image source"));
  ImageSource source;
  BERTH_TRY(readField(document, "reference", source.reference));
  BERTH_TRY(readField(document, "digest", source.digest));
  BERTH_TRY(readField(document, "platform", source.platform));
  BERTH_TRY(readField(document, "created", source.created));
  BERTH_TRY(readField(document, "tool", source.tool));
  BERTH_TRY(readField(document, "manifest", source.manifest));
  BERTH_TRY(readField(document, "manifestMediaType", source.manifestMediaType));
  return source;
}

std::string serializeImageSource(const ImageSource& source) {
  json document{{"reference", source.reference},
                {"digest", source.digest},
                {"platform", source.platform},
                {"created", source.created},
                {"tool", source.tool}};
  if (!source.manifest.empty()) {
    document["manifest"] = source.manifest;
    document["manifestMediaType"] = source.manifestMediaType;
  }
  // Never throws: a manifest that is not UTF-8 comes out changed, and its digest then no longer
  // matches (a push sees that and flattens instead).
  return document.dump(2, ' ', false, json::error_handler_t::replace);
}

std::string platformString(const ImageConfig& config) {
  std::string platform = fmt::format("{}/{}", config.os.empty() ? "linux" : config.os,
                                     config.architecture.empty() ? "unknown" : config.architecture);
  if (!config.variant.empty())
    platform += "/" + config.variant;
  return platform;
}

std::string hostPlatform() {
  utsname names{};
  ::uname(&names);
  std::string_view machine = names.machine;
  for (const auto& entry : kMachineArchs) {
    if (entry.machine == machine) {
      return entry.variant.empty() ? fmt::format("linux/{}", entry.architecture)
                                   : fmt::format("linux/{}/{}", entry.architecture, entry.variant);
    }
  }
  return fmt::format("linux/{}", machine);
}

}  // namespace berth::image
