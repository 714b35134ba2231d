// Fuzz target: the small text parsers of shared/gpu — NVIDIA_REQUIRE_CUDA, GPU selections and
// capabilities, /proc/devices, the driver's per-GPU information file and its version file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "shared/gpu/cuda_version.hpp"
#include "shared/gpu/devices.hpp"
#include "shared/gpu/driver.hpp"
#include "shared/gpu/request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)berth::gpu::parseRequireCuda(text);
  (void)berth::gpu::CudaVersion::parse(text);
  (void)berth::gpu::parseProcDevices(text);
  (void)berth::gpu::parseGpuInformation(text);
  (void)berth::gpu::parseDriverVersion(text);
  size_t split = text.find('|');
  std::string_view mode = text.substr(0, split);
  std::string_view caps = split == std::string_view::npos ? "" : text.substr(split + 1);
  auto request = berth::gpu::parseGpuRequest(mode, caps);
  if (request.ok()) {
    for (unsigned index : request->indices) {
      if (index >= 255)
        std::abort();  // minors 254/255 are control devices, never GPUs
    }
  }
  return 0;
}
