#include <map>

#include <doctest/doctest.h>

#include "shared/gpu/capabilities.hpp"
#include "shared/gpu/request.hpp"

using namespace berth::gpu;
using Mode = GpuRequest::Mode;

TEST_CASE("GPU capabilities: names, all, the default, unknown names") {
  CHECK(parseCapabilities("")->size() == 2);
  CHECK(formatCapabilities(*parseCapabilities("")) == "compute,utility");
  CHECK(formatCapabilities(*parseCapabilities(" video , compute")) == "compute,video");
  CHECK(parseCapabilities("all")->size() == 5);
  CHECK(parseCapabilities("compute,gpu")
            .error()
            .message()
            .starts_with("unknown GPU capability `gpu`"));
}

TEST_CASE("GPU capability tables: one entry per name, stems match whole names only") {
  CHECK(findDriverLibrary("libcuda.so.1")->capability == Capability::kCompute);
  CHECK(findDriverLibrary("libcuda.so.580.159.04")->stem == "libcuda.so");
  CHECK(findDriverLibrary("libcudadebugger.so.1")->stem == "libcudadebugger.so");
  CHECK(findDriverLibrary("libnvidia-ml.so.1")->capability == Capability::kUtility);
  CHECK(findDriverLibrary("libnvcuvid.so.1")->capability == Capability::kVideo);
  CHECK(findDriverLibrary("libGLX_nvidia.so.0")->capability == Capability::kGraphics);
  CHECK(findDriverLibrary("libnvidia-pkcs11-openssl3.so.580.1")->stem ==
        "libnvidia-pkcs11-openssl3.so");
  CHECK(findDriverLibrary("libcudart.so.12") == nullptr);
  CHECK(findDriverLibrary("libcuda.sox") == nullptr);
  CHECK(findDriverBinary("nvidia-smi")->capability == Capability::kUtility);
  CHECK(findDriverBinary("nvidia-cuda-mps-control")->capability == Capability::kCompute);
  std::set<std::string_view> stems;
  for (const auto& library : driverLibraries())
    CHECK(stems.insert(library.stem).second);
}

TEST_CASE("GPU request: auto, all, none and lists") {
  CHECK(parseGpuRequest("", "")->mode == Mode::kAuto);
  CHECK(parseGpuRequest("auto", "")->mode == Mode::kAuto);
  CHECK(parseGpuRequest("all", "all")->capabilities.size() == 5);
  CHECK(parseGpuRequest("none", "")->mode == Mode::kNone);
  auto list = parseGpuRequest("3,0-1,1", "compute");
  REQUIRE(list.ok());
  CHECK(list->mode == Mode::kList);
  CHECK(list->indices == std::vector<unsigned>{0, 1, 3});
  CHECK(list->capabilities == Capabilities{Capability::kCompute});
  CHECK(parseGpuRequest("some", "").error().message().starts_with("GPU selection `some`"));
  CHECK_FALSE(parseGpuRequest("1-0", "").ok());
  CHECK_FALSE(parseGpuRequest("255", "").ok());
  CHECK_FALSE(parseGpuRequest("0", "bogus").ok());
}

TEST_CASE("GPU request: what Slurm allocated, from the step's environment") {
  auto lookup = [](std::map<std::string, std::string> env) {
    return [env](std::string_view name) -> std::optional<std::string> {
      auto it = env.find(std::string(name));
      return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
  };
  CHECK_FALSE(slurmAllocatedGpus(lookup({}))->has_value());
  CHECK(**slurmAllocatedGpus(lookup({{"SLURM_STEP_GPUS", "1,3"}, {"SLURM_JOB_GPUS", "0-3"}})) ==
        std::vector<unsigned>{1, 3});
  CHECK(**slurmAllocatedGpus(lookup({{"SLURM_JOB_GPUS", "2"}})) == std::vector<unsigned>{2});
  CHECK((*slurmAllocatedGpus(lookup({{"SLURM_STEP_GPUS", ""}})))->empty());
  CHECK(slurmAllocatedGpus(lookup({{"SLURM_STEP_GPUS", "x"}}))
            .error()
            .message()
            .starts_with("SLURM_STEP_GPUS: "));
}
