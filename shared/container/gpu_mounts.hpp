// The GPU part of a container in the runtime's terms: a gpu::GpuInjection
// (shared/gpu/injection.hpp) becomes mount operations of the plan and edits of the container's
// environment.
//
// /dev: a container that sees the host's /dev would see every GPU. When GPUs are injected and the
// plan binds the host's /dev, that bind is replaced by a tmpfs holding the host's /dev entries
// except the NVIDIA ones (each bound or linked on its own), then the injection's verified
// device nodes: the container sees exactly the GPUs it was given. With --contain the minimal
// /dev is already private and only the injected nodes are added.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "shared/container/environment.hpp"
#include "shared/container/mount_plan.hpp"
#include "shared/core/result.hpp"
#include "shared/gpu/injection.hpp"

namespace berth::container {

// One entry of the host's /dev, as listHostDev() found it.
struct HostDevEntry {
  enum class Kind { kDirectory, kSymlink, kOther };  // kOther: device nodes, sockets, files
  std::string name;                                  // "null", "pts", "fd"
  Kind kind = Kind::kOther;
  std::string linkText;  // kSymlink: what it points to

  bool operator==(const HostDevEntry&) const = default;
};

// The entries of `dev` (the host's /dev), sorted by name.
[[nodiscard]] Result<std::vector<HostDevEntry>> listHostDev(
    const std::filesystem::path& dev = "/dev");

// Pure: the injection's mounts, in order: the tmpfs, read-only nosuid,nodev file binds, the
// soname links, device binds (nosuid, devices allowed, numbers re-checked on the opened source),
// then sockets and directories. Nothing when the injection is disabled.
std::vector<MountOp> gpuMountOps(const gpu::GpuInjection& injection);

// Pure: adds the injection to `ops` (a plan's operations): replaces a bind of the host's /dev by
// a private /dev made of `hostDev` minus the NVIDIA entries (see above), and appends
// gpuMountOps(). `ops` is left unchanged when the injection is disabled.
void addGpuMounts(std::vector<MountOp>& ops, const gpu::GpuInjection& injection,
                  const std::vector<HostDevEntry>& hostDev);

// Pure: applies the injection's variables to the container's final environment (after the
// environment rules, so the injection's LD_LIBRARY_PATH passes although the host's never does):
// kSet replaces, kPrepend/kAppend join with ':' onto the value in `env`.
EnvList applyGpuEnvironment(EnvList env, const std::vector<gpu::EnvEdit>& edits);

}  // namespace berth::container
