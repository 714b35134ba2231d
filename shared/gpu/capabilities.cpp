#include "shared/gpu/capabilities.hpp"

#include <array>

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::gpu {
namespace {

using enum Capability;

struct CapabilityName {
  Capability capability;
  std::string_view name;
};
constexpr std::array kCapabilityNames = {
    CapabilityName{kCompute, "compute"}, CapabilityName{kUtility, "utility"},
    CapabilityName{kVideo, "video"},     CapabilityName{kGraphics, "graphics"},
    CapabilityName{kDisplay, "display"},
};

// Mostly the lists libnvidia-container keeps, trimmed of what went away before driver 450.
constexpr std::array kLibraries = {
    // utility
    DriverLibrary{"libnvidia-ml.so", kUtility},   // NVML: device queries, used by nvidia-smi, DCGM
    DriverLibrary{"libnvidia-cfg.so", kUtility},  // GPU configuration queries (nvidia-settings)
    // compute
    DriverLibrary{"libcuda.so", kCompute,
                  "libcuda.so"},                    // CUDA driver API; some dlopen the bare name
    DriverLibrary{"libcudadebugger.so", kCompute},  // CUDA debugger back end (cuda-gdb, 525+)
    DriverLibrary{"libnvidia-ptxjitcompiler.so", kCompute},  // JIT-compiles PTX for libcuda
    DriverLibrary{"libnvidia-nvvm.so", kCompute},            // NVVM compiler for JIT LTO (libcuda)
    DriverLibrary{"libnvidia-gpucomp.so", kCompute},         // shared GPU compiler (535+, libcuda)
    DriverLibrary{"libnvidia-opencl.so", kCompute},          // OpenCL ICD (libOpenCL loads it)
    DriverLibrary{"libnvidia-allocator.so", kCompute},  // memory allocator (GBM, some CUDA paths)
    DriverLibrary{"libnvidia-pkcs11.so", kCompute},  // confidential computing crypto (OpenSSL 1.1)
    DriverLibrary{"libnvidia-pkcs11-openssl3.so", kCompute},  // the same for OpenSSL 3
    DriverLibrary{"libnvidia-fatbinaryloader.so", kCompute},  // fat binary loader (drivers < 495)
    DriverLibrary{"libnvidia-compiler.so", kCompute},         // OpenCL compiler (drivers < 535)
    // video
    DriverLibrary{"libnvcuvid.so", kVideo},             // NVDEC video decoding (Video Codec SDK)
    DriverLibrary{"libnvidia-encode.so", kVideo},       // NVENC video encoding (Video Codec SDK)
    DriverLibrary{"libnvidia-opticalflow.so", kVideo},  // optical flow engine (Turing and later)
    DriverLibrary{"libvdpau_nvidia.so", kVideo},        // VDPAU video decode back end
    // graphics
    DriverLibrary{"libGLX_nvidia.so", kGraphics},        // GLX vendor library (via libglvnd)
    DriverLibrary{"libEGL_nvidia.so", kGraphics},        // EGL vendor library (via libglvnd)
    DriverLibrary{"libGLESv2_nvidia.so", kGraphics},     // OpenGL ES 2/3 vendor library
    DriverLibrary{"libGLESv1_CM_nvidia.so", kGraphics},  // OpenGL ES 1 vendor library
    DriverLibrary{"libnvidia-eglcore.so", kGraphics},    // EGL core, used by libEGL_nvidia
    DriverLibrary{"libnvidia-glcore.so", kGraphics},     // OpenGL core, used by libGLX_nvidia
    DriverLibrary{"libnvidia-tls.so", kGraphics},        // thread-local storage for the GL stack
    DriverLibrary{"libnvidia-glsi.so", kGraphics},       // GL system interface (EGL/GLX glue)
    DriverLibrary{"libnvidia-glvkspirv.so", kGraphics},  // SPIR-V compiler for Vulkan and GL
    DriverLibrary{"libnvidia-rtcore.so", kGraphics},     // ray tracing core, used by OptiX
    DriverLibrary{"libnvoptix.so", kGraphics},           // OptiX ray tracing
    DriverLibrary{"libnvidia-fbc.so", kGraphics},        // NvFBC frame buffer capture
    DriverLibrary{"libnvidia-ngx.so", kGraphics},        // NGX (DLSS) runtime
};

constexpr std::array kBinaries = {
    DriverBinary{"nvidia-smi", kUtility},               // the System Management Interface (NVML)
    DriverBinary{"nvidia-debugdump", kUtility},         // collects GPU state for bug reports
    DriverBinary{"nvidia-persistenced", kUtility},      // persistence daemon (its client use)
    DriverBinary{"nvidia-cuda-mps-control", kCompute},  // starts/queries the MPS control daemon
    DriverBinary{"nvidia-cuda-mps-server", kCompute},   // the MPS server the control daemon runs
};

}  // namespace

std::string_view capabilityName(Capability capability) {
  for (const auto& entry : kCapabilityNames) {
    if (entry.capability == capability)
      return entry.name;
  }
  return "?";
}

Capabilities defaultCapabilities() {
  return {kCompute, kUtility};
}

Result<Capabilities> parseCapabilities(std::string_view value) {
  if (trim(value).empty())
    return defaultCapabilities();
  Capabilities result;
  for (const std::string& field : split(value, ',')) {
    std::string_view name = trim(field);
    if (name == "all") {
      for (const auto& entry : kCapabilityNames)
        result.insert(entry.capability);
      continue;
    }
    bool known = false;
    for (const auto& entry : kCapabilityNames) {
      if (entry.name == name) {
        result.insert(entry.capability);
        known = true;
      }
    }
    if (!known)
      return Error(fmt::format(
          "unknown GPU capability `{}` (known: compute, utility, video, graphics, display, all)",
          name));
  }
  return result;
}

std::string formatCapabilities(const Capabilities& capabilities) {
  std::string text;
  for (Capability capability : capabilities) {
    if (!text.empty())
      text += ',';
    text += capabilityName(capability);
  }
  return text;
}

std::span<const DriverLibrary> driverLibraries() {
  return kLibraries;
}
std::span<const DriverBinary> driverBinaries() {
  return kBinaries;
}

const DriverLibrary* findDriverLibrary(std::string_view fileName) {
  for (const auto& library : kLibraries) {
    // The stem must be followed by the end or a '.': libnvidia-pkcs11.so must not claim
    // libnvidia-pkcs11-openssl3.so.*, and it doesn't since "-" != ".".
    if (fileName.starts_with(library.stem) &&
        (fileName.size() == library.stem.size() || fileName[library.stem.size()] == '.'))
      return &library;
  }
  return nullptr;
}

const DriverBinary* findDriverBinary(std::string_view name) {
  for (const auto& binary : kBinaries) {
    if (binary.name == name)
      return &binary;
  }
  return nullptr;
}

}  // namespace berth::gpu
