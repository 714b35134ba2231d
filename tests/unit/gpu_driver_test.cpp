#include <algorithm>
#include <fstream>

#include <doctest/doctest.h>

#include "shared/gpu/driver.hpp"
#include "shared/gpu/injection.hpp"
#include "tests/unit/gpu_fake_driver.hpp"

using namespace berth::gpu;
namespace fs = std::filesystem;

namespace {

const DriverFile& fileNamed(const DriverInfo& info, std::string_view table) {
  const DriverFile* file = info.find(table);
  REQUIRE_MESSAGE(file != nullptr, table);
  return *file;
}

bool hasBind(const GpuInjection& plan, std::string_view containerPath) {
  return std::any_of(plan.binds.begin(), plan.binds.end(),
                     [&](const BindItem& b) { return b.containerPath == containerPath; });
}

// A bind, or a link to a bind's file in the same directory.
bool hasName(const GpuInjection& plan, std::string_view containerPath) {
  if (hasBind(plan, containerPath))
    return true;
  for (const LinkItem& link : plan.links) {
    if (link.containerPath == containerPath) {
      std::string dir = link.containerPath.substr(0, link.containerPath.rfind('/') + 1);
      return hasBind(plan, dir + link.target);
    }
  }
  return false;
}

std::string envValue(const GpuInjection& plan, std::string_view name) {
  for (const EnvEdit& edit : plan.env) {
    if (edit.name == name)
      return edit.value;
  }
  return "<unset>";
}

// The fake tree has no device nodes without root: give the discovered GPUs verified nodes, as
// discoverDevices would on a host (the root tests check discovery of real nodes).
void pretendDevicesVerified(DriverInfo& info) {
  for (GpuDevice& gpu : info.devices.gpus) {
    gpu.node = {fmt::format("/dev/nvidia{}", gpu.minor), fmt::format("/dev/nvidia{}", gpu.minor),
                195, gpu.minor};
    gpu.nodeProblem.clear();
  }
  info.devices.controlDevices = {{"/dev/nvidiactl", "/dev/nvidiactl", 195, 255}};
}

InjectionInputs inputs(std::string_view mode, std::string_view caps = "") {
  InjectionInputs in;
  in.request = *parseGpuRequest(mode, caps);
  return in;
}

}  // namespace

TEST_CASE("driver version from the kernel module's /proc and /sys files") {
  CHECK(*parseDriverVersion("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.54.03  Tue Jun  6 "
                            "22:20:39 UTC 2023\nGCC version: gcc 12\n") == "535.54.03");
  CHECK(*parseDriverVersion("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  "
                            "Release Build\n") == "580.159.04");
  CHECK(*parseDriverVersion("580.159.04\n") == "580.159.04");
  CHECK_FALSE(parseDriverVersion("garbage\n").ok());
}

TEST_CASE("discovery: only files of the running driver version, by ld.so.cache and admin dirs") {
  auto root = testing::makeFakeDriver();
  auto found = discoverDriver(DriverSearch::under(root.path()));
  REQUIRE_MESSAGE(found.ok(), testing::errorOf(found));
  REQUIRE(found->has_value());
  const DriverInfo& info = **found;
  CHECK(info.version == "580.159.04");

  const fs::path lib = fs::canonical(root.path()) / "usr/lib/x86_64-linux-gnu";
  const DriverFile& libcuda = fileNamed(info, "libcuda.so");
  CHECK(libcuda.hostPath == (lib / "libcuda.so.580.159.04").string());
  CHECK(libcuda.names ==
        std::vector<std::string>{"libcuda.so.580.159.04", "libcuda.so.1", "libcuda.so"});
  CHECK(fileNamed(info, "libnvidia-glcore.so").names ==
        std::vector<std::string>{"libnvidia-glcore.so.580.159.04"});
  // libnvidia-cfg lives only in the admin directory /usr/local/nvidia/lib64.
  CHECK(fileNamed(info, "libnvidia-cfg.so").names ==
        std::vector<std::string>{"libnvidia-cfg.so.580.159.04", "libnvidia-cfg.so.1"});
  CHECK(fileNamed(info, "nvidia-smi").kind == DriverFile::Kind::kBinary);
  // The old driver's libraries are ignored and remembered; unrelated libraries don't appear.
  CHECK(info.find("libnvidia-opencl.so") == nullptr);
  CHECK(info.ignored.size() == 2);
  for (const DriverFile& file : info.files)
    CHECK(file.hostPath.find("535.54.03") == std::string::npos);
  CHECK(info.files.size() == 10);  // 7 libraries in the cache, 1 in lib64, 2 programs

  // GPUs from the driver's /proc entries, their nodes missing (no mknod without root).
  REQUIRE(info.devices.gpus.size() == 2);
  CHECK(info.devices.gpus[1].minor == 1);
  CHECK(info.devices.gpus[1].pciBusId == "0000:5e:00.0");
  CHECK(info.devices.gpus[1].uuid == "GPU-00000001-1111-2222-3333-444444444444");
  CHECK(info.devices.gpus[1].model == "NVIDIA H200");
  CHECK(info.devices.gpus[1].nodeProblem.find("is missing") != std::string::npos);
}

TEST_CASE("discovery: no kernel module is no driver, not an error -- broken nodes are refused") {
  auto empty = berth::TempDir::create(fs::temp_directory_path(), "berth-no-driver");
  REQUIRE(empty.ok());
  auto none = discoverDriver(DriverSearch::under(empty->path()));
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());

  // A version file that isn't one.
  fs::create_directories(empty->path() / "proc/driver/nvidia");
  std::ofstream(empty->path() / "proc/driver/nvidia/version") << "hello\n";
  auto bad = discoverDriver(DriverSearch::under(empty->path()));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message().find("no driver version in `hello`") != std::string::npos);

  // A node that is not the device its name says: /dev/null (1:3) linked in as nvidiactl.
  auto root = testing::makeFakeDriver();
  fs::create_symlink("/dev/null", root.path() / "dev/nvidiactl");
  auto refused = discoverDriver(DriverSearch::under(root.path()));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message().find("is not a character device: refusing to bind it") !=
        std::string::npos);
  CHECK(verifyDeviceNode("/dev/null", 1, 3).ok());
  CHECK(verifyDeviceNode("/dev/null", 195, 0).error().message() ==
        "`/dev/null` is device 1:3, expected 195:0: refusing to bind it");
}

TEST_CASE("injection plan: capabilities select files, only selected GPUs, variables") {
  auto root = testing::makeFakeDriver();
  auto found = discoverDriver(DriverSearch::under(root.path()));
  REQUIRE(found.ok());
  std::optional<DriverInfo> driver = std::move(**found);
  pretendDevicesVerified(*driver);

  auto in = inputs("auto");
  in.allocated = std::vector<unsigned>{1};  // Slurm gave the step GPU 1
  auto plan = planInjection(driver, in);
  REQUIRE_MESSAGE(plan.ok(), testing::errorOf(plan));
  CHECK(plan->enabled);
  CHECK(plan->gpus == std::vector<unsigned>{1});
  CHECK(hasBind(*plan, "/dev/nvidia1"));
  CHECK_FALSE(hasBind(*plan, "/dev/nvidia0"));
  CHECK(hasBind(*plan, "/dev/nvidiactl"));
  CHECK(hasName(*plan, "/usr/local/berth-nvidia/lib/libcuda.so.1"));
  CHECK(hasName(*plan, "/usr/local/berth-nvidia/lib/libcuda.so"));
  CHECK(hasBind(*plan, "/usr/local/berth-nvidia/lib/libcuda.so.580.159.04"));
  CHECK_FALSE(hasBind(*plan, "/usr/local/berth-nvidia/lib/libcuda.so.1"));  // a link
  CHECK(plan->tmpfsDir == "/usr/local/berth-nvidia");
  CHECK(hasName(*plan, "/usr/local/berth-nvidia/lib/libnvidia-ml.so.1"));
  CHECK(hasName(*plan, "/usr/local/berth-nvidia/bin/nvidia-smi"));
  CHECK_FALSE(hasName(*plan, "/usr/local/berth-nvidia/lib/libnvcuvid.so.1"));  // video not asked
  CHECK_FALSE(hasName(*plan, "/usr/local/berth-nvidia/lib/libGLX_nvidia.so.0"));
  for (const BindItem& bind : plan->binds) {
    if (bind.kind == BindItem::Kind::kLibrary || bind.kind == BindItem::Kind::kBinary)
      CHECK(bind.readOnly);
  }
  CHECK(envValue(*plan, "CUDA_VISIBLE_DEVICES") == "GPU-00000001-1111-2222-3333-444444444444");
  CHECK(envValue(*plan, "NVIDIA_VISIBLE_DEVICES") == envValue(*plan, "CUDA_VISIBLE_DEVICES"));
  CHECK(envValue(*plan, "LD_LIBRARY_PATH") == "/usr/local/berth-nvidia/lib");
  CHECK(envValue(*plan, "NVIDIA_DRIVER_CAPABILITIES") == "compute,utility");

  // Video and graphics on request; without UUIDs, visible devices are numbered from 0.
  for (GpuDevice& gpu : driver->devices.gpus)
    gpu.uuid.clear();
  auto video = planInjection(driver, inputs("all", "video,graphics"));
  REQUIRE(video.ok());
  CHECK(hasName(*video, "/usr/local/berth-nvidia/lib/libnvcuvid.so.1"));
  CHECK(hasName(*video, "/usr/local/berth-nvidia/lib/libGLX_nvidia.so.0"));
  CHECK_FALSE(hasName(*video, "/usr/local/berth-nvidia/lib/libcuda.so.1"));
  CHECK(hasBind(*video, "/dev/nvidia0"));
  CHECK(hasBind(*video, "/dev/nvidia1"));
  CHECK(envValue(*video, "CUDA_VISIBLE_DEVICES") == "0,1");
}

TEST_CASE("injection plan: auto, all, none and lists against Slurm's allocation") {
  auto root = testing::makeFakeDriver();
  std::optional<DriverInfo> driver = std::move(**discoverDriver(DriverSearch::under(root.path())));
  pretendDevicesVerified(*driver);

  CHECK_FALSE(planInjection(driver, inputs("none"))->enabled);
  CHECK(planInjection(driver, inputs("auto"))->gpus == std::vector<unsigned>{0, 1});
  auto in = inputs("auto");
  in.allocated = std::vector<unsigned>{};
  auto noneAllocated = planInjection(driver, in);
  CHECK_FALSE(noneAllocated->enabled);
  CHECK(noneAllocated->reason == "Slurm allocated no GPU to this step");
  in = inputs("all");
  in.allocated = std::vector<unsigned>{};
  CHECK(planInjection(driver, in).error().message() ==
        "GPUs requested but Slurm allocated no GPU to this step");
  in = inputs("0");
  in.allocated = std::vector<unsigned>{1};
  CHECK(planInjection(driver, in).error().message() ==
        "GPU 0 requested but Slurm allocated GPUs `1` to this step");
  CHECK(planInjection(driver, inputs("5")).error().message() ==
        "GPU 5 requested but this node has GPUs 0,1");

  // No driver: auto injects nothing, all is a clean error.
  std::optional<DriverInfo> noDriver;
  auto quiet = planInjection(noDriver, inputs("auto"));
  REQUIRE(quiet.ok());
  CHECK_FALSE(quiet->enabled);
  CHECK(planInjection(noDriver, inputs("all")).error().message() ==
        "GPUs requested but no NVIDIA driver on this node (no kernel module version file)");

  // A selected GPU whose node is missing, and a missing libcuda, are errors.
  driver->devices.gpus[0].nodeProblem = "device node `/dev/nvidia0` is missing";
  CHECK(planInjection(driver, inputs("0")).error().message() ==
        "GPU 0: device node `/dev/nvidia0` is missing");
  CHECK(planInjection(driver, inputs("1")).ok());
  std::erase_if(driver->files, [](const DriverFile& f) { return f.tableName == "libcuda.so"; });
  CHECK(planInjection(driver, inputs("1"))
            .error()
            .message()
            .starts_with(
                "NVIDIA driver 580.159.04: libcuda.so.580.159.04 (compute capability) not found"));
  CHECK(planInjection(driver, inputs("1", "utility")).ok());
  driver->devices.controlDevices.clear();
  driver->devices.devRoot = "/dev";
  CHECK(planInjection(driver, inputs("1", "utility")).error().message() ==
        "`/dev/nvidiactl` is missing: no GPU can be used without it");
}

TEST_CASE("injection plan: the CUDA check decides, compat libraries go first") {
  auto root = testing::makeFakeDriver();
  std::optional<DriverInfo> driver = std::move(**discoverDriver(DriverSearch::under(root.path())));
  pretendDevicesVerified(*driver);
  auto in = inputs("all");
  in.image = *cudaRequirementOf({"NVIDIA_REQUIRE_CUDA=cuda>=13.0"}, {});
  in.driverCuda = CudaVersion{12, 2};
  in.imageFiles.compatLibraries = {"libcuda.so.1"};
  auto plan = planInjection(driver, in);
  REQUIRE(plan.ok());
  CHECK(envValue(*plan, "LD_LIBRARY_PATH") == "/usr/local/cuda/compat:/usr/local/berth-nvidia/lib");
  in.imageFiles.compatLibraries.clear();
  CHECK(planInjection(driver, in).error().message().find("needs driver >= 580.65.06") !=
        std::string::npos);
}
