// What of the NVIDIA driver a container gets, by capability (NVIDIA_DRIVER_CAPABILITIES names):
// declarative tables of the driver's user-space libraries and binaries, one comment per file.
#pragma once

#include <set>
#include <span>
#include <string>
#include <string_view>

#include "shared/core/result.hpp"

namespace berth::gpu {

enum class Capability {
  kCompute,   // CUDA and OpenCL
  kUtility,   // NVML and nvidia-smi
  kVideo,     // NVDEC/NVENC (Video Codec SDK), VDPAU
  kGraphics,  // OpenGL, EGL, GLES, Vulkan, OptiX
  kDisplay,   // accepted for NVIDIA_DRIVER_CAPABILITIES compatibility; adds no files (no X server)
};

using Capabilities = std::set<Capability>;

std::string_view capabilityName(Capability capability);

// "compute,utility", "all" (every capability), "" (the default: compute,utility). Unknown names
// are errors; blanks around names are ignored.
Result<Capabilities> parseCapabilities(std::string_view value);
Capabilities defaultCapabilities();
std::string formatCapabilities(const Capabilities& capabilities);

// A driver library: its file is `<stem>.<driver version>` ("libcuda.so.580.159.04").
struct DriverLibrary {
  std::string_view stem;  // "libcuda.so"
  Capability capability;
  // Extra names the container gets besides the file's own name and its soname(s): programs
  // that dlopen() an unversioned name.
  std::string_view extraName = {};
};

// A driver program, put on the container's PATH.
struct DriverBinary {
  std::string_view name;  // "nvidia-smi"
  Capability capability;
};

std::span<const DriverLibrary> driverLibraries();
std::span<const DriverBinary> driverBinaries();

// The library whose stem `fileName` starts with ("libcuda.so.1" -> libcuda.so), or nullptr.
const DriverLibrary* findDriverLibrary(std::string_view fileName);
const DriverBinary* findDriverBinary(std::string_view name);

}  // namespace berth::gpu
