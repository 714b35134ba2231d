#include <map>

#include <doctest/doctest.h>

#include "shared/gpu/prepare.hpp"
#include "tests/unit/gpu_fake_driver.hpp"

using namespace berth::gpu;

namespace {

EnvLookup envOf(std::map<std::string, std::string> env) {
  return [env](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

}  // namespace

TEST_CASE("prepareGpuInjection: discovery, Slurm's allocation and the CUDA probe together") {
  auto root = testing::makeFakeDriver("FAKE_CUDA=12020");
  GpuSetup setup;
  setup.search = DriverSearch::under(root.path());
  setup.request = *parseGpuRequest("auto", "");
  setup.imageEnv = {"NVIDIA_REQUIRE_CUDA=cuda>=13.0"};

  // Slurm allocated GPU 1: the stub libcuda is asked (in a child) and says CUDA 12.2.
  setup.stepEnv = envOf({{"SLURM_STEP_GPUS", "1"}});
  auto tooOld = prepareGpuInjection(setup);
  REQUIRE_FALSE(tooOld.ok());
  CHECK(tooOld.error().message() ==
        "GPU: image needs CUDA 13.0 (NVIDIA_REQUIRE_CUDA) but the host's NVIDIA driver "
        "580.159.04 supports only CUDA 12.2: CUDA 13.0 needs driver >= 580.65.06 (or the "
        "image's forward-compatibility libraries in /usr/local/cuda/compat)");

  // A step without GPUs: nothing to inject, no probe, no error.
  setup.stepEnv = envOf({{"SLURM_STEP_GPUS", ""}});
  auto noGpus = prepareGpuInjection(setup);
  REQUIRE(noGpus.ok());
  CHECK_FALSE(noGpus->enabled);

  // none: the driver is not even looked for.
  setup.search.versionFiles = {"/nonexistent"};
  setup.request = *parseGpuRequest("none", "");
  CHECK_FALSE(prepareGpuInjection(setup)->enabled);
  // all, on a node without a driver: a clean error.
  setup.request = *parseGpuRequest("all", "");
  setup.stepEnv = envOf({});
  CHECK(prepareGpuInjection(setup).error().message() ==
        "GPU: GPUs requested but no NVIDIA driver on this node (no kernel module version file)");
}

TEST_CASE("prepareGpuInjection: where Slurm manages GPUs, a step it gave none gets none") {
  auto root = testing::makeFakeDriver("FAKE_CUDA=12020");
  GpuSetup setup;
  setup.search = DriverSearch::under(root.path());
  setup.request = *parseGpuRequest("auto", "");
  setup.stepEnv = envOf({});  // no SLURM_STEP_GPUS / SLURM_JOB_GPUS: no GPU allocation

  // GPUs not under Slurm's control: every GPU of the node, so berth goes on to their device
  // files (which the fake driver tree lacks: the error shows the GPUs were selected).
  auto unmanaged = prepareGpuInjection(setup);
  REQUIRE_FALSE(unmanaged.ok());
  CHECK(unmanaged.error().message().find("nvidiactl` is missing") != std::string::npos);

  // GresTypes=gpu: none, and the driver is not even looked for.
  setup.slurmManagesGpus = true;
  setup.search.versionFiles = {"/nonexistent"};
  auto managed = prepareGpuInjection(setup);
  REQUIRE(managed.ok());
  CHECK_FALSE(managed->enabled);
  CHECK(managed->reason == "Slurm allocated no GPU to this step");
  // all: an error, as Slurm allocated no GPU.
  setup.request = *parseGpuRequest("all", "");
  CHECK_FALSE(prepareGpuInjection(setup).ok());
  // The allocation still rules where there is one: GPU 0 is selected (and its devices sought).
  setup.request = *parseGpuRequest("auto", "");
  setup.search = DriverSearch::under(root.path());
  setup.stepEnv = envOf({{"SLURM_STEP_GPUS", "0"}});
  auto allocated = prepareGpuInjection(setup);
  REQUIRE_FALSE(allocated.ok());
  CHECK(allocated.error().message().find("nvidiactl` is missing") != std::string::npos);
}
