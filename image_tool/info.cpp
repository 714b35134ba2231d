// `berth info`: what berth finds on this host. `--gpu`: the NVIDIA driver, each GPU with its PCI
// address and NUMA/CPU locality, and what `--container-gpu` / `berth exec --gpu` would inject
// into a container here (for this process's environment: SLURM_STEP_GPUS etc.).
#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "image_tool/command.hpp"
#include "image_tool/site.hpp"
#include "shared/container/build.hpp"
#include "shared/core/process_env.hpp"
#include "shared/core/read_file.hpp"
#include "shared/gpu/locality.hpp"
#include "shared/gpu/prepare.hpp"
#include "shared/image/metadata.hpp"

namespace berth::cli {
namespace {

struct InfoOptions {
  bool gpu = false;
  std::string gpus = "auto";
  std::string caps;  // empty: NVIDIA_DRIVER_CAPABILITIES, else compute,utility
  std::string driverRoot;
  std::string versionFile;
  std::string ldCache;
  std::string image;  // an image's root directory (unpacked or mounted)
};

// The OCI config of the image whose root is `root` (/.berth/config.json); none: empty.
Result<image::ImageConfig> readImageConfig(const std::filesystem::path& root) {
  Result<std::string> text = readWholeFile(root / image::kConfigFile);
  if (!text.ok())
    return image::ImageConfig{};
  return image::parseImageConfig(*text).withContext(
      fmt::format("`{}`", (root / image::kConfigFile).string()));
}

std::string_view kindName(gpu::BindItem::Kind kind) {
  switch (kind) {
    case gpu::BindItem::Kind::kLibrary:
      return "library";
    case gpu::BindItem::Kind::kBinary:
      return "program";
    case gpu::BindItem::Kind::kDevice:
      return "device";
    case gpu::BindItem::Kind::kSocket:
      return "socket";
    case gpu::BindItem::Kind::kDirectory:
      return "directory";
  }
  return "?";
}

void printGpus(const gpu::DriverInfo& driver) {
  fmt::print("GPUs: {}\n", driver.devices.gpus.size());
  auto topology = gpu::Topology::load();
  for (const gpu::GpuDevice& device : driver.devices.gpus) {
    std::string where = "locality unknown";
    if (!topology.ok()) {
      where = fmt::format("locality unknown ({})", topology.error().message());
    } else if (!device.pciBusId.empty()) {
      gpu::PciLocality locality = topology->locate(device.pciBusId);
      if (locality.found)
        where = fmt::format("NUMA node {}, CPUs {}",
                            locality.numaNodes.empty() ? "?" : locality.numaNodes,
                            locality.cpus.empty() ? "?" : locality.cpus);
      else
        where = "locality unknown (hwloc does not see this PCI device)";
    }
    fmt::print("  GPU {}: {}, PCI {}, {}, {}\n", device.minor,
               device.model.empty() ? "unknown model" : device.model,
               device.pciBusId.empty() ? "?" : device.pciBusId,
               device.uuid.empty() ? "UUID unknown" : device.uuid, where);
    fmt::print("    node: {}\n",
               device.nodeProblem.empty()
                   ? fmt::format("{} (195:{}, verified)", device.node.hostPath, device.minor)
                   : device.nodeProblem);
  }
}

void printPlan(const gpu::GpuInjection& plan) {
  if (!plan.enabled) {
    fmt::print("Would inject: nothing ({})\n", plan.reason);
    return;
  }
  fmt::print("Would inject GPUs {} ({}):\n", gpu::formatIndexList(plan.gpus), plan.reason);
  fmt::print("  tmpfs     {}\n", plan.tmpfsDir);
  for (const gpu::BindItem& bind : plan.binds) {
    std::string extra = bind.kind == gpu::BindItem::Kind::kDevice
                            ? fmt::format(" ({}:{})", bind.major, bind.minor)
                            : (bind.readOnly ? " (read-only)" : "");
    if (bind.hostPath == bind.containerPath)
      fmt::print("  {:9} {}{}\n", kindName(bind.kind), bind.hostPath, extra);
    else
      fmt::print("  {:9} {} -> {}{}\n", kindName(bind.kind), bind.hostPath, bind.containerPath,
                 extra);
  }
  for (const gpu::LinkItem& link : plan.links)
    fmt::print("  link      {} -> {}\n", link.containerPath, link.target);
  for (const gpu::EnvEdit& edit : plan.env) {
    std::string_view how = edit.mode == gpu::EnvEdit::Mode::kSet       ? "="
                           : edit.mode == gpu::EnvEdit::Mode::kPrepend ? " prepend "
                                                                       : " append ";
    fmt::print("  env       {}{}{}\n", edit.name, how, edit.value);
  }
}

Result<int> showGpuInfo(const InfoOptions& options) {
  // Where containers look: berth.conf's gpu_driver_root and gpu_library_dirs (or --driver-root).
  BERTH_ASSIGN(config::SiteConfig site, loadSite());
  gpu::DriverSearch search = container::siteDriverSearch(site, options.driverRoot);
  if (!options.versionFile.empty())
    search.versionFiles = {options.versionFile};
  if (!options.ldCache.empty())
    search.ldCache = options.ldCache;
  if (auto pipes = processEnv("CUDA_MPS_PIPE_DIRECTORY"))
    search.mpsPipeDirectory = *pipes;

  std::string caps = options.caps;
  if (caps.empty())
    caps = processEnv("NVIDIA_DRIVER_CAPABILITIES").value_or("");
  BERTH_ASSIGN(gpu::GpuRequest request, gpu::parseGpuRequest(options.gpus, caps));
  BERTH_ASSIGN(auto driver, gpu::discoverDriver(search));
  if (!driver) {
    fmt::print("no NVIDIA GPU found (no NVIDIA kernel module: {} missing)\n",
               search.versionFiles.front().string());
    return 0;
  }
  fmt::print("NVIDIA driver {}", driver->version);
  if (const gpu::DriverFile* libcuda = driver->find("libcuda.so")) {
    auto cuda = gpu::probeDriverCudaVersion(libcuda->hostPath);
    fmt::print(", CUDA {}\n", cuda.ok() ? cuda->str() : "unknown: " + cuda.error().message());
  } else {
    fmt::print(", no libcuda of that version found\n");
  }
  printGpus(*driver);
  fmt::print("Capabilities: {}\n", gpu::formatCapabilities(request.capabilities));
  for (const std::string& path : driver->ignored)
    fmt::print("Ignored (another driver version): {}\n", path);
  gpu::GpuSetup setup;
  setup.search = search;
  setup.request = request;
  setup.stepEnv = processEnv;
  if (!options.image.empty()) {
    BERTH_ASSIGN(image::ImageConfig config, readImageConfig(options.image));
    setup.imageEnv = config.env;
    setup.imageLabels = config.labels;
    setup.imageRoot = options.image;
  }
  auto plan = gpu::prepareGpuInjection(setup);
  if (plan.ok()) {
    if (plan->enabled)
      fmt::print("CUDA check: {}\n", plan->cuda.summary);
    printPlan(*plan);
    for (const std::string& warning : plan->warnings)
      fmt::print("Warning: {}\n", warning);
    return 0;
  }
  return std::move(plan).error();
}

}  // namespace

void addInfoCommand(CLI::App& app, Invocation& invocation) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App* command = app.add_subcommand("info", "Show what berth finds on this host (GPUs)");
  command->add_flag("--gpu", options->gpu,
                    "NVIDIA driver, GPUs with PCI address and NUMA/CPU locality, and what a "
                    "container would get");
  command
      ->add_option("--gpus", options->gpus,
                   "GPU selection to show the injection for: auto, all, none or a list (0,1)")
      ->capture_default_str();
  command->add_option("--caps", options->caps,
                      "Driver capabilities (compute,utility,video,graphics,display or all); "
                      "default: NVIDIA_DRIVER_CAPABILITIES or compute,utility");
  command->add_option("--image", options->image,
                      "Also check the CUDA needs of the image whose root is DIR (unpacked or "
                      "mounted): its /.berth/config.json, libcudart and /usr/local/cuda/compat");
  // Admin/debug overrides (docs/gpu.md): inspect a driver installed elsewhere, or a test tree.
  command->add_option("--driver-root", options->driverRoot,
                      "Look for everything (version file, ld.so.cache, /dev, /proc) under DIR");
  command->add_option("--version-file", options->versionFile,
                      "Kernel module version file (default /proc/driver/nvidia/version)");
  command->add_option("--ld-cache", options->ldCache,
                      "ld.so.cache to read (default /etc/ld.so.cache, under --driver-root)");
  command->callback([&invocation, options] {
    invocation.action = [options]() -> Result<int> {
      if (!options->gpu) {
        fmt::print("berth {}\n(see `berth info --gpu` for GPUs)\n", BERTH_VERSION);
        return 0;
      }
      return showGpuInfo(*options);
    };
  });
}

}  // namespace berth::cli
