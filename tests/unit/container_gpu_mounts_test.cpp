// The GPU injection as mount operations and environment edits (pure; no root, no driver).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include "shared/container/gpu_container.hpp"
#include "shared/container/gpu_mounts.hpp"
#include "shared/core/temp_dir.hpp"

using namespace berth;
using namespace berth::container;
namespace fs = std::filesystem;
using gpu::BindItem;

namespace {

gpu::GpuInjection sampleInjection() {
  gpu::GpuInjection in;
  in.enabled = true;
  in.gpus = {1};
  in.tmpfsDir = "/usr/local/berth-nvidia";
  in.libraryDir = "/usr/local/berth-nvidia/lib";
  in.binaryDir = "/usr/local/berth-nvidia/bin";
  in.binds = {
      {BindItem::Kind::kLibrary, "/usr/lib/libcuda.so.580.1",
       "/usr/local/berth-nvidia/lib/libcuda.so.580.1"},
      {BindItem::Kind::kBinary, "/usr/bin/nvidia-smi", "/usr/local/berth-nvidia/bin/nvidia-smi"},
      {BindItem::Kind::kDevice, "/dev/nvidiactl", "/dev/nvidiactl", false, 195, 255},
      {BindItem::Kind::kDevice, "/dev/nvidia1", "/dev/nvidia1", false, 195, 1},
      {BindItem::Kind::kSocket, "/run/nvidia-persistenced/socket",
       "/run/nvidia-persistenced/socket", false},
  };
  in.links = {{"/usr/local/berth-nvidia/lib/libcuda.so.1", "libcuda.so.580.1"}};
  in.env = {
      {"CUDA_VISIBLE_DEVICES", "GPU-1", gpu::EnvEdit::Mode::kSet},
      {"LD_LIBRARY_PATH", "/usr/local/berth-nvidia/lib", gpu::EnvEdit::Mode::kPrepend},
      {"PATH", "/usr/local/berth-nvidia/bin", gpu::EnvEdit::Mode::kAppend},
  };
  return in;
}

std::vector<HostDevEntry> sampleDev() {
  using K = HostDevEntry::Kind;
  return {{"fd", K::kSymlink, "/proc/self/fd"},
          {"null", K::kOther, ""},
          {"nvidia0", K::kOther, ""},
          {"nvidia-caps", K::kDirectory, ""},
          {"nvidiactl", K::kOther, ""},
          {"pts", K::kDirectory, ""},
          {"shm", K::kDirectory, ""}};
}

MountOp bindOf(std::string path, bool devices = false) {
  MountOp op;
  op.source = path;
  op.target = path;
  op.allowDevices = devices;
  return op;
}

const MountOp* find(const std::vector<MountOp>& ops, std::string_view target, MountOpKind kind) {
  for (const auto& op : ops)
    if (op.target == target && op.kind == kind)
      return &op;
  return nullptr;
}

}  // namespace

TEST_CASE("gpuMountOps: tmpfs, read-only files, links, checked devices, in that order") {
  auto ops = gpuMountOps(sampleInjection());
  REQUIRE(ops.size() == 7);
  CHECK(ops[0].kind == MountOpKind::kTmpfs);
  CHECK(ops[0].target == "/usr/local/berth-nvidia");
  // Files: read-only, not recursive, devices not allowed (nodev), no device check.
  for (int i : {1, 2}) {
    CHECK(ops[i].kind == MountOpKind::kBind);
    CHECK(ops[i].readOnly);
    CHECK_FALSE(ops[i].allowDevices);
    CHECK_FALSE(ops[i].recursive);
    CHECK_FALSE(ops[i].device.has_value());
  }
  CHECK(ops[1].source == "/usr/lib/libcuda.so.580.1");
  CHECK(ops[3].kind == MountOpKind::kSymlink);
  CHECK(ops[3].target == "/usr/local/berth-nvidia/lib/libcuda.so.1");
  CHECK(ops[3].source == "libcuda.so.580.1");
  // Devices: allowed, numbers to check, writable.
  CHECK(ops[4].target == "/dev/nvidiactl");
  CHECK(ops[4].allowDevices);
  CHECK(ops[4].device == std::make_pair(195u, 255u));
  CHECK(ops[5].device == std::make_pair(195u, 1u));
  CHECK_FALSE(ops[5].readOnly);
  // The persistenced socket: no devices.
  CHECK(ops[6].target == "/run/nvidia-persistenced/socket");
  CHECK_FALSE(ops[6].allowDevices);
  CHECK_FALSE(ops[6].device.has_value());

  gpu::GpuInjection disabled;
  CHECK(gpuMountOps(disabled).empty());
}

TEST_CASE("addGpuMounts: the host's /dev becomes a private /dev without other GPUs") {
  std::vector<MountOp> ops;
  MountOp proc = bindOf("/proc");
  MountOp dev = bindOf("/dev", true);
  MountOp tmp = bindOf("/tmp");
  ops = {proc, dev, tmp};
  addGpuMounts(ops, sampleInjection(), sampleDev());
  // The /dev bind is gone, replaced at its place by a tmpfs and the host's entries.
  CHECK(find(ops, "/dev", MountOpKind::kBind) == nullptr);
  REQUIRE(ops.size() > 3);
  CHECK(ops[0].target == "/proc");
  CHECK(ops[1].kind == MountOpKind::kTmpfs);
  CHECK(ops[1].target == "/dev");
  const MountOp* fd = find(ops, "/dev/fd", MountOpKind::kSymlink);
  REQUIRE(fd != nullptr);
  CHECK(fd->source == "/proc/self/fd");
  const MountOp* null = find(ops, "/dev/null", MountOpKind::kBind);
  REQUIRE(null != nullptr);
  CHECK(null->allowDevices);
  CHECK_FALSE(null->recursive);
  CHECK(null->optional);
  const MountOp* pts = find(ops, "/dev/pts", MountOpKind::kBind);
  REQUIRE(pts != nullptr);
  CHECK(pts->recursive);
  // No host NVIDIA entry is bound from the listing: only the injection's verified nodes.
  CHECK(find(ops, "/dev/nvidia0", MountOpKind::kBind) == nullptr);
  CHECK(find(ops, "/dev/nvidia-caps", MountOpKind::kBind) == nullptr);
  CHECK(std::count_if(ops.begin(), ops.end(),
                      [](const MountOp& op) { return op.target == "/dev/nvidiactl"; }) == 1);
  CHECK(find(ops, "/dev/nvidiactl", MountOpKind::kBind)->device.has_value());
  CHECK(find(ops, "/dev/nvidia1", MountOpKind::kBind) != nullptr);
  // /tmp keeps its place before the GPU mounts, which come last.
  auto tmpAt =
      std::find_if(ops.begin(), ops.end(), [](const MountOp& op) { return op.target == "/tmp"; });
  auto gpuAt = std::find_if(ops.begin(), ops.end(), [](const MountOp& op) {
    return op.target == "/usr/local/berth-nvidia";
  });
  CHECK(tmpAt < gpuAt);
  CHECK(ops.back().target == "/run/nvidia-persistenced/socket");
}

TEST_CASE("addGpuMounts: a private /dev (--contain) only gets the GPU nodes -- disabled: nothing") {
  MountOp devTmpfs;
  devTmpfs.kind = MountOpKind::kTmpfs;
  devTmpfs.target = "/dev";
  std::vector<MountOp> ops{devTmpfs};
  addGpuMounts(ops, sampleInjection(), sampleDev());
  CHECK(ops.size() == 1 + 7);
  CHECK(find(ops, "/dev/null", MountOpKind::kBind) == nullptr);

  MountOp dev = bindOf("/dev", true);
  std::vector<MountOp> unchanged{dev};
  addGpuMounts(unchanged, gpu::GpuInjection{}, sampleDev());
  REQUIRE(unchanged.size() == 1);
  CHECK(unchanged[0] == dev);
}

TEST_CASE("applyGpuEnvironment: set, prepend, append -- LD_LIBRARY_PATH from nothing") {
  EnvList env{"PATH=/bin:/usr/bin", "CUDA_VISIBLE_DEVICES=0,1", "HOME=/root"};
  EnvList out = applyGpuEnvironment(env, sampleInjection().env);
  CHECK(out == EnvList{"PATH=/bin:/usr/bin:/usr/local/berth-nvidia/bin",
                       "CUDA_VISIBLE_DEVICES=GPU-1", "HOME=/root",
                       "LD_LIBRARY_PATH=/usr/local/berth-nvidia/lib"});
  EnvList withPath{"LD_LIBRARY_PATH=/opt/lib"};
  CHECK(applyGpuEnvironment(withPath, sampleInjection().env)[0] ==
        "LD_LIBRARY_PATH=/usr/local/berth-nvidia/lib:/opt/lib");
  // An empty value counts as unset: no stray ':'.
  EnvList empty{"PATH="};
  CHECK(applyGpuEnvironment(empty, sampleInjection().env)[0] == "PATH=/usr/local/berth-nvidia/bin");
}

TEST_CASE("listHostDev: names sorted, kinds, link texts") {
  TempDir dir = TempDir::create(fs::temp_directory_path(), "berth-dev").value();
  fs::create_directory(dir.path() / "pts");
  fs::create_symlink("/proc/self/fd", dir.path() / "fd");
  { std::ofstream(dir.path() / "zero") << ""; }
  auto entries = listHostDev(dir.path());
  REQUIRE(entries.ok());
  using K = HostDevEntry::Kind;
  CHECK(*entries == std::vector<HostDevEntry>{{"fd", K::kSymlink, "/proc/self/fd"},
                                              {"pts", K::kDirectory, ""},
                                              {"zero", K::kOther, ""}});
  CHECK_FALSE(listHostDev(dir.path() / "missing").ok());
}

TEST_CASE("driverSearchFor: host defaults or a driver root -- configured dirs searched first") {
  gpu::DriverSearch host = driverSearchFor("", {"/opt/nv/lib"});
  CHECK(host.driverRoot == "/");
  CHECK(host.devRoot == "/dev");
  REQUIRE(host.extraDirs.size() == 3);
  CHECK(host.extraDirs[0] == "/opt/nv/lib");
  CHECK(host.extraDirs[1] == "/usr/local/nvidia/lib64");
  gpu::DriverSearch fake = driverSearchFor("/fake", {"/opt/nv/lib"});
  CHECK(fake.driverRoot == "/fake");
  CHECK(fake.devRoot == "/fake/dev");
  CHECK(fake.procRoot == "/fake/proc");
  CHECK(fake.extraDirs[0] == "/fake/opt/nv/lib");
  CHECK(fake.extraDirs[1] == "/fake/usr/local/nvidia/lib64");
}
