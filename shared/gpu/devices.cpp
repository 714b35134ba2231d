#include "shared/gpu/devices.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <charconv>
#include <optional>

#include <fmt/format.h>

#include "shared/core/read_file.hpp"
#include "shared/core/strings.hpp"

namespace berth::gpu {
namespace fs = std::filesystem;
namespace {

std::optional<unsigned> parseUnsigned(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return std::nullopt;
  return value;
}

std::optional<std::string> readSmallFile(const fs::path& path) {
  Result<std::string> content = readWholeFile(path);
  if (!content.ok())
    return std::nullopt;
  return std::move(content).value();
}

// The control nodes with a dynamic major, by the /proc/devices name that carries it.
struct DynamicNode {
  std::string_view name;    // under /dev
  std::string_view driver;  // /proc/devices name
  unsigned minor;
};
constexpr DynamicNode kUvmNodes[] = {
    {"nvidia-uvm", "nvidia-uvm", 0},        // unified memory: every CUDA context opens it
    {"nvidia-uvm-tools", "nvidia-uvm", 1},  // UVM event tracing for profilers (CUPTI)
};

DeviceNode nodeAt(const fs::path& devRoot, std::string_view name, unsigned major, unsigned minor) {
  return {(devRoot / name).string(), fmt::format("/dev/{}", name), major, minor};
}

bool nodeExists(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Adds the GPUs named by the driver's /proc entries, or else by /dev/nvidiaN nodes.
void findGpus(const fs::path& devRoot, const fs::path& procRoot, DeviceInventory& inventory) {
  std::error_code ec;
  fs::path gpusDir = procRoot / "driver/nvidia/gpus";
  if (fs::is_directory(gpusDir, ec)) {
    for (const auto& entry : fs::directory_iterator(gpusDir, ec)) {
      auto text = readSmallFile(entry.path() / "information");
      if (!text)
        continue;
      GpuInformation info = parseGpuInformation(*text);
      if (info.minor < 0)
        continue;
      GpuDevice gpu;
      gpu.minor = static_cast<unsigned>(info.minor);
      gpu.pciBusId = info.busLocation.empty() ? entry.path().filename().string() : info.busLocation;
      gpu.uuid = info.uuid;
      gpu.model = info.model;
      inventory.gpus.push_back(std::move(gpu));
    }
  } else {
    for (const auto& entry : fs::directory_iterator(devRoot, ec)) {
      std::string name = entry.path().filename().string();
      if (!name.starts_with("nvidia"))
        continue;
      if (auto minor = parseUnsigned(std::string_view(name).substr(6)); minor && *minor < 255) {
        GpuDevice gpu;
        gpu.minor = *minor;
        inventory.gpus.push_back(std::move(gpu));
      }
    }
  }
  std::sort(inventory.gpus.begin(), inventory.gpus.end(),
            [](const GpuDevice& a, const GpuDevice& b) { return a.minor < b.minor; });
  for (GpuDevice& gpu : inventory.gpus) {
    DeviceNode node = nodeAt(devRoot, fmt::format("nvidia{}", gpu.minor), kNvidiaMajor, gpu.minor);
    if (!nodeExists(node.hostPath)) {
      gpu.nodeProblem = fmt::format("device node `{}` is missing", node.hostPath);
    } else if (Status ok = verifyDeviceNode(node.hostPath, node.major, node.minor); !ok.ok()) {
      gpu.nodeProblem = ok.error().message();
    } else {
      gpu.node = std::move(node);
    }
  }
}

// Adds a control node when it exists and checks out; a node that exists but is wrong is an error.
Status addControl(DeviceInventory& inventory, DeviceNode node) {
  if (!nodeExists(node.hostPath)) {
    inventory.warnings.push_back(fmt::format("`{}` does not exist", node.hostPath));
    return {};
  }
  BERTH_TRY(verifyDeviceNode(node.hostPath, node.major, node.minor));
  inventory.controlDevices.push_back(std::move(node));
  return {};
}

}  // namespace

Result<std::map<std::string, unsigned>> parseProcDevices(std::string_view text) {
  std::map<std::string, unsigned> majors;
  bool inCharacter = false;
  for (const std::string& rawLine : split(text, '\n')) {
    std::string_view line = trim(rawLine);
    if (line == "Character devices:") {
      inCharacter = true;
    } else if (line == "Block devices:") {
      inCharacter = false;
    } else if (inCharacter && !line.empty()) {
      size_t space = line.find(' ');
      auto major = parseUnsigned(line.substr(0, space));
      if (space == std::string_view::npos || !major)
        return Error(fmt::format("/proc/devices: unexpected line `{}`", line));
      majors[std::string(trim(line.substr(space)))] = *major;
    }
  }
  return majors;
}

GpuInformation parseGpuInformation(std::string_view text) {
  GpuInformation info;
  for (const std::string& line : split(text, '\n')) {
    size_t colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    std::string_view key = trim(std::string_view(line).substr(0, colon));
    std::string_view value = trim(std::string_view(line).substr(colon + 1));
    if (key == "Model") {
      info.model = value;
    } else if (key == "GPU UUID") {
      // Before the GPU is first initialised the driver shows "GPU-????????-...".
      if (value.starts_with("GPU-") && value.find('?') == std::string_view::npos)
        info.uuid = value;
    } else if (key == "Bus Location") {
      info.busLocation = value;
    } else if (key == "Device Minor") {
      if (auto minor = parseUnsigned(value); minor && *minor < 255)
        info.minor = static_cast<int>(*minor);
    }
  }
  return info;
}

Status verifyDeviceNode(const fs::path& path, unsigned major, unsigned minor) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0)
    return errnoError(fmt::format("stat device `{}`", path.string()));
  if (!S_ISCHR(st.st_mode))
    return Error(fmt::format("`{}` is not a character device: refusing to bind it", path.string()));
  if (::major(st.st_rdev) != major || ::minor(st.st_rdev) != minor)
    return Error(fmt::format("`{}` is device {}:{}, expected {}:{}: refusing to bind it",
                             path.string(), ::major(st.st_rdev), ::minor(st.st_rdev), major,
                             minor));
  return {};
}

Result<DeviceInventory> discoverDevices(const fs::path& devRoot, const fs::path& procRoot) {
  DeviceInventory inventory;
  inventory.devRoot = devRoot.string();
  findGpus(devRoot, procRoot, inventory);

  BERTH_TRY(addControl(inventory, nodeAt(devRoot, "nvidiactl", kNvidiaMajor, kNvidiaCtlMinor)));
  BERTH_TRY(
      addControl(inventory, nodeAt(devRoot, "nvidia-modeset", kNvidiaMajor, kNvidiaModesetMinor)));

  std::map<std::string, unsigned> majors;
  if (auto text = readSmallFile(procRoot / "devices")) {
    BERTH_ASSIGN(majors, parseProcDevices(*text));
  }
  for (const DynamicNode& uvm : kUvmNodes) {
    auto major = majors.find(std::string(uvm.driver));
    fs::path path = devRoot / uvm.name;
    if (major == majors.end()) {
      if (nodeExists(path))
        inventory.warnings.push_back(fmt::format(
            "`{}` not bound: no `{}` in /proc/devices to verify it", path.string(), uvm.driver));
      else
        inventory.warnings.push_back(fmt::format("`{}` does not exist", path.string()));
      continue;
    }
    BERTH_TRY(addControl(inventory, nodeAt(devRoot, uvm.name, major->second, uvm.minor)));
  }

  // nvidia-caps/nvidia-capN is minor N of the nvidia-caps major (MIG and admin capabilities).
  std::error_code ec;
  fs::path capsDir = devRoot / "nvidia-caps";
  if (fs::is_directory(capsDir, ec)) {
    auto capsMajor = majors.find("nvidia-caps");
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(capsDir, ec))
      names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      auto minor = name.starts_with("nvidia-cap") ? parseUnsigned(name.substr(10)) : std::nullopt;
      if (!minor || capsMajor == majors.end()) {
        inventory.warnings.push_back(
            fmt::format("`{}` not bound: cannot verify it", (capsDir / name).string()));
        continue;
      }
      BERTH_TRY(
          addControl(inventory, nodeAt(devRoot, "nvidia-caps/" + name, capsMajor->second, *minor)));
    }
  }
  return inventory;
}

}  // namespace berth::gpu
