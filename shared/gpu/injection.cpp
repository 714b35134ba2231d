#include "shared/gpu/injection.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace berth::gpu {
namespace {

using Mode = GpuRequest::Mode;

// Libraries without which a capability cannot work at all: missing, the injection fails
// instead of producing a container where CUDA or nvidia-smi fail obscurely.
struct KeyLibrary {
  Capability capability;
  std::string_view stem;
};
constexpr KeyLibrary kKeyLibraries[] = {
    {Capability::kCompute, "libcuda.so"},       // the CUDA driver API itself
    {Capability::kUtility, "libnvidia-ml.so"},  // NVML, which nvidia-smi needs
};

bool contains(const std::vector<unsigned>& list, unsigned value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

Status checkKeyLibraries(const DriverInfo& driver, const Capabilities& capabilities) {
  for (const KeyLibrary& key : kKeyLibraries) {
    if (!capabilities.contains(key.capability) || driver.find(key.stem) != nullptr)
      continue;
    std::string others;
    for (const std::string& path : driver.ignored) {
      if (path.find(key.stem) != std::string::npos)
        others += (others.empty() ? "" : ", ") + path;
    }
    return Error(fmt::format(
        "NVIDIA driver {}: {}.{} ({} capability) not found in ld.so.cache or the driver "
        "directories{}",
        driver.version, key.stem, driver.version, capabilityName(key.capability),
        others.empty() ? std::string()
                       : fmt::format(" (other versions found: {}; was the driver updated "
                                     "without reloading the kernel module?)",
                                     others)));
  }
  return {};
}

// CUDA_VISIBLE_DEVICES as the container sees its GPUs: by UUID when the driver told us every
// UUID (unambiguous whatever CUDA's ordering), else 0..k-1 (CUDA enumerates only the GPUs whose
// /dev/nvidiaN exists, and the container has only the selected ones).
std::string visibleDevices(const DriverInfo& driver, const std::vector<unsigned>& gpus) {
  std::vector<std::string> uuids;
  for (unsigned index : gpus) {
    for (const GpuDevice& gpu : driver.devices.gpus) {
      if (gpu.minor == index && !gpu.uuid.empty())
        uuids.push_back(gpu.uuid);
    }
  }
  if (uuids.size() == gpus.size())
    return fmt::format("{}", fmt::join(uuids, ","));
  std::vector<unsigned> relative;
  for (unsigned i = 0; i < gpus.size(); ++i)
    relative.push_back(i);
  return formatIndexList(relative);
}

}  // namespace

Result<GpuSelection> selectGpus(const std::optional<DriverInfo>& driver, const GpuRequest& request,
                                const std::optional<std::vector<unsigned>>& allocated) {
  if (request.mode == Mode::kNone)
    return GpuSelection{{}, "GPUs not requested (none)"};
  std::vector<unsigned> present;
  if (driver) {
    for (const GpuDevice& gpu : driver->devices.gpus)
      present.push_back(gpu.minor);
  }
  const bool strict = request.mode != Mode::kAuto;
  if (!driver || present.empty()) {
    std::string why = !driver ? "no NVIDIA driver on this node (no kernel module version file)"
                              : "the NVIDIA driver sees no GPU on this node";
    if (strict)
      return Error(fmt::format("GPUs requested but {}", why));
    return GpuSelection{{}, why};
  }

  std::vector<unsigned> wanted;
  std::string reason;
  if (request.mode == Mode::kList) {
    for (unsigned index : request.indices) {
      if (!contains(present, index))
        return Error(fmt::format("GPU {} requested but this node has GPUs {}", index,
                                 formatIndexList(present)));
      if (allocated && !contains(*allocated, index))
        return Error(fmt::format("GPU {} requested but Slurm allocated GPUs `{}` to this step",
                                 index, formatIndexList(*allocated)));
    }
    wanted = request.indices;
    reason = "GPUs requested by index";
  } else if (allocated) {
    if (allocated->empty()) {
      if (strict)
        return Error(fmt::format("GPUs requested but {}", kNoGpuAllocated));
      return GpuSelection{{}, kNoGpuAllocated};
    }
    for (unsigned index : *allocated) {
      if (!contains(present, index))
        return Error(
            fmt::format("Slurm allocated GPU {} but this node has GPUs {} (gres.conf "
                        "File= must list /dev/nvidiaN in order)",
                        index, formatIndexList(present)));
    }
    wanted = *allocated;
    reason = "GPUs allocated by Slurm";
  } else {
    wanted = present;
    reason = "all GPUs of the node (no Slurm GPU allocation)";
  }
  return GpuSelection{wanted, reason};
}

Result<GpuInjection> planInjection(const std::optional<DriverInfo>& driver,
                                   const InjectionInputs& inputs) {
  GpuInjection plan;
  BERTH_ASSIGN(GpuSelection selection, selectGpus(driver, inputs.request, inputs.allocated));
  plan.reason = selection.reason;
  if (selection.gpus.empty())
    return plan;
  const DriverInfo& host = *driver;
  const Capabilities& caps = inputs.request.capabilities;
  BERTH_TRY(checkKeyLibraries(host, caps));
  BERTH_ASSIGN(plan.cuda,
               decideCudaCompat(inputs.image, inputs.driverCuda, host.version, inputs.imageFiles));

  plan.enabled = true;
  plan.driverVersion = host.version;
  plan.gpus = selection.gpus;
  plan.tmpfsDir = kContainerTmpfsDir;
  plan.libraryDir = kContainerLibraryDir;
  plan.binaryDir = kContainerBinaryDir;
  plan.warnings = host.warnings;
  plan.warnings.insert(plan.warnings.end(), host.devices.warnings.begin(),
                       host.devices.warnings.end());

  for (const DriverFile& file : host.files) {
    if (!caps.contains(file.capability))
      continue;
    // One bind per file, under its own name; its other names are links to it.
    bool library = file.kind == DriverFile::Kind::kLibrary;
    const std::string& dir = library ? plan.libraryDir : plan.binaryDir;
    plan.binds.push_back(BindItem{
        .kind = library ? BindItem::Kind::kLibrary : BindItem::Kind::kBinary,
        .hostPath = file.hostPath,
        .containerPath = fmt::format("{}/{}", dir, file.names.front()),
    });
    for (size_t i = 1; i < file.names.size(); ++i)
      plan.links.push_back({fmt::format("{}/{}", dir, file.names[i]), file.names.front()});
  }
  if (std::none_of(host.devices.controlDevices.begin(), host.devices.controlDevices.end(),
                   [](const DeviceNode& node) { return node.containerPath == "/dev/nvidiactl"; }))
    return Error(fmt::format("`{}/nvidiactl` is missing: no GPU can be used without it",
                             host.devices.devRoot));
  for (const DeviceNode& node : host.devices.controlDevices) {
    plan.binds.push_back(BindItem{BindItem::Kind::kDevice, node.hostPath, node.containerPath, false,
                                  node.major, node.minor});
  }
  for (unsigned index : selection.gpus) {
    auto gpu = std::find_if(host.devices.gpus.begin(), host.devices.gpus.end(),
                            [&](const GpuDevice& g) { return g.minor == index; });
    if (!gpu->nodeProblem.empty())
      return Error(fmt::format("GPU {}: {}", index, gpu->nodeProblem));
    plan.binds.push_back(BindItem{BindItem::Kind::kDevice, gpu->node.hostPath,
                                  gpu->node.containerPath, false, gpu->node.major,
                                  gpu->node.minor});
  }
  // The persistence daemon's socket: NVML clients talk to it (and it keeps GPUs initialised).
  if (!host.persistencedSocket.empty())
    plan.binds.push_back(BindItem{BindItem::Kind::kSocket, host.persistencedSocket,
                                  "/run/nvidia-persistenced/socket", false});
  // A running MPS control daemon: CUDA clients connect through its pipe directory.
  if (!host.mpsPipeDirectory.empty()) {
    plan.binds.push_back(
        BindItem{BindItem::Kind::kDirectory, host.mpsPipeDirectory, host.mpsPipeDirectory, false});
    plan.env.push_back({"CUDA_MPS_PIPE_DIRECTORY", host.mpsPipeDirectory, EnvEdit::Mode::kSet});
  }

  std::string visible = visibleDevices(host, selection.gpus);
  plan.env.push_back({"CUDA_VISIBLE_DEVICES", visible, EnvEdit::Mode::kSet});
  plan.env.push_back({"NVIDIA_VISIBLE_DEVICES", visible, EnvEdit::Mode::kSet});
  plan.env.push_back({"NVIDIA_DRIVER_CAPABILITIES", formatCapabilities(caps), EnvEdit::Mode::kSet});
  std::string libraryPath = plan.libraryDir;
  if (plan.cuda.outcome == CompatDecision::Outcome::kUseImageCompat)
    libraryPath = fmt::format("{}:{}", plan.cuda.compatDir, plan.libraryDir);
  plan.env.push_back({"LD_LIBRARY_PATH", libraryPath, EnvEdit::Mode::kPrepend});
  plan.env.push_back({"PATH", plan.binaryDir, EnvEdit::Mode::kAppend});
  return plan;
}

}  // namespace berth::gpu
