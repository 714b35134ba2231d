// The CUDA compatibility check: what the driver supports (asked of the host's libcuda in a child
// process), what the image brings (libcudart, forward-compatibility libraries), and the decision.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shared/core/result.hpp"
#include "shared/gpu/cuda_version.hpp"

namespace berth::gpu {

// Where CUDA images keep the forward-compatibility package (cuda-compat-X-Y): a newer libcuda
// that runs on an older datacenter driver branch.
inline constexpr std::string_view kImageCompatDir = "/usr/local/cuda/compat";

// Calls cuDriverGetVersion of the libcuda at `libcudaPath` in a forked child (dlopen, call,
// write the result to a pipe, _exit), so a crashing or hanging driver library cannot take
// the caller (slurmstepd) down; the child is killed after `timeout`.
Result<CudaVersion> probeDriverCudaVersion(
    const std::string& libcudaPath, std::chrono::milliseconds timeout = std::chrono::seconds(20));

// What the image holds, looked up inside `imageRoot` with openat2(RESOLVE_IN_ROOT) so that
// links in the image cannot point the search at host files.
struct ImageCudaFiles {
  std::optional<CudaVersion> cudart;  // the newest libcudart.so.X.Y.Z in the image's lib dirs
  std::vector<std::string> compatLibraries;  // libcuda.so* names in /usr/local/cuda/compat
};
Result<ImageCudaFiles> scanImageCuda(const std::filesystem::path& imageRoot);

struct CompatDecision {
  enum class Outcome {
    kNoRequirement,     // the image states no CUDA version
    kCheckDisabled,     // NVIDIA_DISABLE_REQUIRE
    kDriverSufficient,  // the driver's CUDA >= the image's
    kUseImageCompat,    // driver too old; the image's compat libraries go first on the path
  };
  Outcome outcome = Outcome::kNoRequirement;
  std::string compatDir;  // in the container, for kUseImageCompat
  std::string summary;    // one line for logs and `berth info`
};

// Decides; an error is the one line a user sees when the image cannot run on this driver:
// both versions and the minimum driver the image's CUDA needs.
Result<CompatDecision> decideCudaCompat(const CudaRequirement& requirement,
                                        const Result<CudaVersion>& driverCuda,
                                        std::string_view driverVersion,
                                        const ImageCudaFiles& image);

}  // namespace berth::gpu
