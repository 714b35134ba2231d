// NVIDIA device nodes: which exist, which GPU each is, and whether a node really is the device
// its name says (a node is bound into a container only after its type and numbers are checked).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::gpu {

// The NVIDIA kernel module's fixed character major: /dev/nvidiaN is 195:N.
inline constexpr unsigned kNvidiaMajor = 195;
inline constexpr unsigned kNvidiaCtlMinor = 255;      // /dev/nvidiactl
inline constexpr unsigned kNvidiaModesetMinor = 254;  // /dev/nvidia-modeset

struct DeviceNode {
  std::string hostPath;       // "/dev/nvidiactl" (under the configured /dev root)
  std::string containerPath;  // always the standard path: "/dev/nvidiactl"
  unsigned major = 0;
  unsigned minor = 0;
};

struct GpuDevice {
  unsigned minor = 0;       // N of /dev/nvidiaN; berth's GPU index
  std::string pciBusId;     // "0000:3b:00.0", empty when the driver's /proc entry is absent
  std::string uuid;         // "GPU-8f6c...", empty when unknown
  std::string model;        // "NVIDIA H200"
  DeviceNode node;          // verified; hostPath empty when the node is missing
  std::string nodeProblem;  // why the node can't be used (missing, wrong type or numbers)
};

struct DeviceInventory {
  std::vector<GpuDevice> gpus;             // by minor
  std::vector<DeviceNode> controlDevices;  // verified nodes only
  std::vector<std::string> warnings;       // optional nodes missing or unverifiable
  std::string devRoot;                     // where the nodes were looked for ("/dev")
};

// The character devices section of /proc/devices: driver name -> major.
Result<std::map<std::string, unsigned>> parseProcDevices(std::string_view text);

// One /proc/driver/nvidia/gpus/<bus id>/information file ("Key: \t value" lines).
struct GpuInformation {
  std::string model, uuid, busLocation;
  int minor = -1;
};
GpuInformation parseGpuInformation(std::string_view text);

// Checks that `path` is itself (no link followed) a character device `major:minor`.
Status verifyDeviceNode(const std::filesystem::path& path, unsigned major, unsigned minor);

// Finds the GPUs and control devices: GPUs from `procRoot`/driver/nvidia/gpus (or, without it,
// the /dev/nvidiaN nodes), control nodes nvidiactl, nvidia-modeset, nvidia-uvm(-tools) and
// nvidia-caps/* (dynamic majors read from `procRoot`/devices). A control node that exists with
// the wrong type or numbers is an error; missing ones are warnings (planInjection requires
// nvidiactl).
Result<DeviceInventory> discoverDevices(const std::filesystem::path& devRoot,
                                        const std::filesystem::path& procRoot);

}  // namespace berth::gpu
