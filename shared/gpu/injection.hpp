// The GPU part of a container, as data: what to bind where, and which variables to set.
// The container runtime turns it into mount operations (after the image is mounted), in order:
//   - a small tmpfs at `tmpfsDir` (the image may be read-only and lack the directories), with
//     `libraryDir` and `binaryDir` made in it;
//   - `binds`, each onto a file (or directory) it creates at `containerPath`:
//   - kLibrary, kBinary: read-only, nosuid, nodev bind of a regular file;
//   - kDevice: bind of a character device onto a file at the same /dev path, nosuid but NOT
//     nodev; re-check the node with verifyDeviceNode(hostPath, major, minor) on the opened
//     source before mounting (the host could swap it between discovery and binding);
//   - kSocket: read-write, nosuid, nodev bind of a UNIX socket;
//   - kDirectory: read-write, nosuid, nodev bind of a directory (MPS pipes).
//   - `links`: symbolic links (the sonames and extra names of each library, pointing to the
//     file's own name in the same directory), made after the tmpfs;
// `env`: kSet replaces, kPrepend/kAppend join with ':' onto the container's value (the image's
// value after the environment rules; an empty value means just ours).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "shared/core/result.hpp"
#include "shared/gpu/cuda_compat.hpp"
#include "shared/gpu/driver.hpp"
#include "shared/gpu/request.hpp"

namespace berth::gpu {

// Inside the container: a directory of its own, so driver files never shadow image files.
inline constexpr std::string_view kContainerTmpfsDir = "/usr/local/berth-nvidia";
inline constexpr std::string_view kContainerLibraryDir = "/usr/local/berth-nvidia/lib";
inline constexpr std::string_view kContainerBinaryDir = "/usr/local/berth-nvidia/bin";

struct BindItem {
  enum class Kind { kLibrary, kBinary, kDevice, kSocket, kDirectory };
  Kind kind = Kind::kLibrary;
  std::string hostPath;
  std::string containerPath;
  bool readOnly = true;
  unsigned major = 0, minor = 0;  // kDevice: what verifyDeviceNode must find
};

struct LinkItem {
  std::string containerPath;  // "/usr/local/berth-nvidia/lib/libcuda.so.1"
  std::string target;         // "libcuda.so.580.159.04" (relative: same directory)
};

struct EnvEdit {
  enum class Mode { kSet, kPrepend, kAppend };
  std::string name;
  std::string value;
  Mode mode = Mode::kSet;
};

// Why a step gets no GPU when Slurm gave it none.
inline constexpr const char* kNoGpuAllocated = "Slurm allocated no GPU to this step";

struct GpuInjection {
  bool enabled = false;  // false: nothing to do (none, or auto on a node/step without GPUs)
  std::string reason;    // why, in one line (also when disabled)
  std::string driverVersion;
  std::vector<unsigned> gpus;   // host indices (minors) given to the container
  std::vector<BindItem> binds;  // in mount order: files, then devices, then sockets/dirs
  std::vector<LinkItem> links;
  std::vector<EnvEdit> env;
  std::string tmpfsDir;    // kContainerTmpfsDir when enabled
  std::string libraryDir;  // kContainerLibraryDir when enabled
  std::string binaryDir;   // kContainerBinaryDir when enabled
  CompatDecision cuda;
  std::vector<std::string> warnings;  // for the caller to log
};

// Everything besides the driver that decides the plan.
struct InjectionInputs {
  GpuRequest request;
  std::optional<std::vector<unsigned>> allocated;  // slurmAllocatedGpus(); nothing: no constraint
  CudaRequirement image;                           // cudaRequirementOf() on the image config
  ImageCudaFiles imageFiles;                       // scanImageCuda() on the mounted image
  // probeDriverCudaVersion() of the driver's libcuda; only consulted when the image states a
  // CUDA version and the check is not disabled.
  Result<CudaVersion> driverCuda = Error("not probed");
};

// Pure: chooses GPUs, files by capability, devices and variables. `driver` is nothing on a node
// without an NVIDIA driver.
Result<GpuInjection> planInjection(const std::optional<DriverInfo>& driver,
                                   const InjectionInputs& inputs);

// The GPUs `request` selects (see request.hpp for the rules), or an error naming the conflict.
struct GpuSelection {
  std::vector<unsigned> gpus;  // empty: inject nothing
  std::string reason;          // one line: why these (or why none)
};
Result<GpuSelection> selectGpus(const std::optional<DriverInfo>& driver, const GpuRequest& request,
                                const std::optional<std::vector<unsigned>>& allocated);

}  // namespace berth::gpu
