// CUDA versions, the driver each needs, and what an image says it needs.
#pragma once

#include <compare>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"

namespace berth::gpu {

struct CudaVersion {
  int major = 0;
  int minor = 0;

  // cuDriverGetVersion's encoding: 1000 * major + 10 * minor (12020 -> 12.2).
  static CudaVersion fromDriverApi(int encoded) { return {encoded / 1000, (encoded % 1000) / 10}; }
  // "12", "12.2", "12.2.140" (patch ignored).
  static Result<CudaVersion> parse(std::string_view text);
  std::string str() const;
  auto operator<=>(const CudaVersion&) const = default;
};

// The oldest Linux x86_64 driver of CUDA `version`'s GA release (CUDA release notes, "CUDA
// Toolkit and Corresponding Driver Versions"), or nothing when the table doesn't know it.
std::optional<std::string_view> minimumDriverFor(CudaVersion version);

// What an image declares about CUDA. Only the `cuda>=X.Y` part of NVIDIA_REQUIRE_CUDA is acted
// on; its `brand=...,driver>=...` alternatives describe NVIDIA's forward-compatibility support,
// which berth decides from the image's compat libraries instead.
struct CudaRequirement {
  std::optional<CudaVersion> minimum;  // nothing: the image states no CUDA need
  std::string source;                  // where `minimum` came from, for messages
  bool checkDisabled = false;          // NVIDIA_DISABLE_REQUIRE is set (to anything but 0/false)
};

// Parses NVIDIA_REQUIRE_CUDA ("cuda>=12.2 brand=tesla,driver>=470,driver<471"): space-separated
// alternatives of comma-separated conditions `NAME OP VERSION` (OP one of >= > <= < =). Returns
// the largest lower bound on `cuda`, or nothing when no condition bounds it.
Result<std::optional<CudaVersion>> parseRequireCuda(std::string_view value);

// The image's need, from (first found wins) NVIDIA_REQUIRE_CUDA, CUDA_VERSION in the image's Env
// ("KEY=VALUE" strings), the label com.nvidia.cuda.version, or `cudartVersion` (the version of
// a libcudart.so.X.Y found in the image, when the caller looked).
Result<CudaRequirement> cudaRequirementOf(const std::vector<std::string>& env,
                                          const std::map<std::string, std::string>& labels,
                                          std::optional<CudaVersion> cudartVersion = {});

}  // namespace berth::gpu
