// Discovery of the host's NVIDIA driver: its version (from the kernel module), its user-space
// files of exactly that version (from ld.so.cache and admin-configured directories), its device
// nodes and its service sockets. The only part of shared/gpu that reads the host's file system
// (with devices.hpp); everything after it works on the DriverInfo it returns.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shared/core/result.hpp"
#include "shared/gpu/capabilities.hpp"
#include "shared/gpu/devices.hpp"

namespace berth::gpu {

// Where to look. The defaults describe a normal host; `under(root)` moves everything into a
// driver root (a test's fake tree, or `berth info --gpu --driver-root`).
struct DriverSearch {
  // Prefix of the paths the ld.so.cache names (the root ldconfig ran in, `ldconfig -r`).
  std::filesystem::path driverRoot = "/";
  // The kernel module's version; the first that exists wins.
  std::vector<std::filesystem::path> versionFiles = {"/proc/driver/nvidia/version",
                                                     "/sys/module/nvidia/version"};
  std::filesystem::path ldCache = "/etc/ld.so.cache";
  // Admin-configured directories holding driver libraries and programs (config key
  // `gpu_library_dirs`; see docs/gpu.md). Searched before the cache's entries.
  std::vector<std::filesystem::path> extraDirs = {"/usr/local/nvidia/lib64",
                                                  "/usr/local/nvidia/bin"};
  // Where the driver's programs (nvidia-smi, ...) are looked for after `extraDirs`.
  std::vector<std::filesystem::path> binaryDirs = {"/usr/bin", "/usr/sbin", "/usr/local/bin"};
  std::filesystem::path devRoot = "/dev";
  std::filesystem::path procRoot = "/proc";
  std::filesystem::path persistencedSocket = "/run/nvidia-persistenced/socket";
  // CUDA_MPS_PIPE_DIRECTORY of the step, or MPS's default.
  std::filesystem::path mpsPipeDirectory = "/tmp/nvidia-mps";

  static DriverSearch under(const std::filesystem::path& root);
};

struct DriverFile {
  enum class Kind { kLibrary, kBinary };
  Kind kind = Kind::kLibrary;
  Capability capability = Capability::kCompute;
  std::string tableName;  // the table's stem or program name: "libcuda.so", "nvidia-smi"
  std::string hostPath;   // the real file on the host: ".../libcuda.so.580.159.04"
  // The names the file gets in the container: its own, its sonames ("libcuda.so.1") and the
  // table's extra names ("libcuda.so"); for a program, its name.
  std::vector<std::string> names;
};

struct DriverInfo {
  std::string version;            // "580.159.04"
  std::vector<DriverFile> files;  // every capability; injection picks by capability
  DeviceInventory devices;
  std::string persistencedSocket;     // host path when the socket exists, else empty
  std::string mpsPipeDirectory;       // host path when the directory exists, else empty
  std::vector<std::string> ignored;   // driver-named files of another version, for diagnostics
  std::vector<std::string> warnings;  // e.g. an unreadable ld.so.cache

  const DriverFile* find(std::string_view tableName) const;
};

// Reads the driver version from the kernel module's version file: either the /proc form
// ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Thu ...") or the /sys one
// ("580.159.04").
Result<std::string> parseDriverVersion(std::string_view text);

// Discovers the driver. Returns nothing when no NVIDIA kernel module is loaded (no version
// file): that is a normal state of a CPU node, which callers decide about.
Result<std::optional<DriverInfo>> discoverDriver(const DriverSearch& search);

}  // namespace berth::gpu
