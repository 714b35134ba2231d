#include <fstream>

#include <doctest/doctest.h>

#include "shared/gpu/cuda_compat.hpp"
#include "shared/gpu/cuda_version.hpp"
#include "tests/unit/gpu_fake_driver.hpp"

using namespace berth::gpu;
namespace fs = std::filesystem;

namespace {

std::string libcudaOf(const berth::TempDir& root) {
  return (root.path() / "usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04").string();
}

void touch(const fs::path& path) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << "x";
}

}  // namespace

TEST_CASE("CUDA versions: parsing, the driver API's encoding, the minimum driver table") {
  CHECK(CudaVersion::parse("12.2")->str() == "12.2");
  CHECK(CudaVersion::parse("12.2.140")->str() == "12.2");
  CHECK(CudaVersion::parse("13")->str() == "13.0");
  CHECK_FALSE(CudaVersion::parse("12.x").ok());
  CHECK_FALSE(CudaVersion::parse("").ok());
  CHECK(CudaVersion::fromDriverApi(12020).str() == "12.2");
  CHECK(CudaVersion::fromDriverApi(13000).str() == "13.0");
  CHECK(CudaVersion{12, 9} < CudaVersion{13, 0});
  CHECK(minimumDriverFor({12, 0}) == "525.60.13");
  CHECK(minimumDriverFor({12, 2}) == "535.54.03");
  CHECK(minimumDriverFor({12, 4}) == "550.54.14");
  CHECK(minimumDriverFor({13, 0}) == "580.65.06");
  CHECK(minimumDriverFor({12, 7}) == "560.28.03");  // between rows: the previous row's driver
  CHECK_FALSE(minimumDriverFor({14, 0}).has_value());
}

TEST_CASE(
    "NVIDIA_REQUIRE_CUDA: the largest cuda lower bound, other conditions parsed and ignored") {
  auto need = parseRequireCuda(
      "cuda>=12.2 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471");
  REQUIRE(need.ok());
  REQUIRE(need->has_value());
  CHECK((*need)->str() == "12.2");
  CHECK(parseRequireCuda("brand=tesla,driver>=470")->has_value() == false);
  CHECK((*parseRequireCuda("  cuda>=11.8  cuda>=12.1 "))->str() == "12.1");
  CHECK_FALSE(parseRequireCuda("cuda>=twelve").ok());
  CHECK(parseRequireCuda("cuda~12").error().message().find("no operator") != std::string::npos);
  CHECK(parseRequireCuda("cuda=>12").error().message().find("unknown operator") !=
        std::string::npos);
}

TEST_CASE("the image's CUDA need: REQUIRE, then CUDA_VERSION, then the label, then libcudart") {
  auto fromRequire =
      cudaRequirementOf({"NVIDIA_REQUIRE_CUDA=cuda>=12.4", "CUDA_VERSION=12.2.0"}, {});
  CHECK(fromRequire->minimum->str() == "12.4");
  CHECK(fromRequire->source == "NVIDIA_REQUIRE_CUDA");
  auto fromVersion = cudaRequirementOf({"PATH=/bin", "CUDA_VERSION=12.2.2"}, {});
  CHECK(fromVersion->minimum->str() == "12.2");
  CHECK(fromVersion->source == "CUDA_VERSION");
  auto fromLabel = cudaRequirementOf({}, {{"com.nvidia.cuda.version", "11.8.0"}});
  CHECK(fromLabel->minimum->str() == "11.8");
  auto fromCudart = cudaRequirementOf({}, {}, CudaVersion{13, 0});
  CHECK(fromCudart->source == "the image's libcudart");
  auto nothing = cudaRequirementOf({"CUDA_VERSIONX=1"}, {});
  CHECK_FALSE(nothing->minimum.has_value());
  CHECK(cudaRequirementOf({"NVIDIA_DISABLE_REQUIRE=1"}, {})->checkDisabled);
  CHECK_FALSE(cudaRequirementOf({"NVIDIA_DISABLE_REQUIRE=false"}, {})->checkDisabled);
  CHECK_FALSE(cudaRequirementOf({"CUDA_VERSION=abc"}, {}).ok());
}

TEST_CASE("cuDriverGetVersion is asked in a child process") {
  auto root = testing::makeFakeDriver("FAKE_CUDA=12040");
  auto version = probeDriverCudaVersion(libcudaOf(root));
  REQUIRE_MESSAGE(version.ok(), testing::errorOf(version));
  CHECK(version->str() == "12.4");

  CHECK(probeDriverCudaVersion("/nonexistent/libcuda.so.1").error().message() ==
        "ask `/nonexistent/libcuda.so.1` for its CUDA version: dlopen failed");
}

TEST_CASE("a crashing, hanging or wrong libcuda cannot take the caller down") {
  auto crash = testing::makeFakeDriver("FAKE_LIBCUDA=crash");
  auto crashed = probeDriverCudaVersion(libcudaOf(crash));
  REQUIRE_FALSE(crashed.ok());
  CHECK(crashed.error().message().find("died of signal 11") != std::string::npos);

  auto hang = testing::makeFakeDriver("FAKE_LIBCUDA=hang");
  auto hung = probeDriverCudaVersion(libcudaOf(hang), std::chrono::milliseconds(200));
  REQUIRE_FALSE(hung.ok());
  CHECK(hung.error().message().find("no answer within 200 ms") != std::string::npos);

  auto nosym = testing::makeFakeDriver("FAKE_LIBCUDA=nosym");
  CHECK(probeDriverCudaVersion(libcudaOf(nosym)).error().message().find("no cuDriverGetVersion") !=
        std::string::npos);
}

TEST_CASE("the image's libcudart and compat libraries are found inside its root only") {
  auto image = berth::TempDir::create(fs::temp_directory_path(), "berth-image");
  REQUIRE(image.ok());
  const fs::path root = image->path();
  touch(root / "usr/local/cuda/targets/x86_64-linux/lib/libcudart.so.12.2.140");
  touch(root / "usr/local/cuda/targets/x86_64-linux/lib/libcudart.so.11.8.89");
  fs::create_symlink("libcudart.so.12.2.140",
                     root / "usr/local/cuda/targets/x86_64-linux/lib/libcudart.so.12");
  auto files = scanImageCuda(root);
  REQUIRE(files.ok());
  CHECK(files->cudart->str() == "12.2");
  CHECK(files->compatLibraries.empty());

  // An absolute link in the image resolves inside the image, not on the host.
  fs::create_directories(root / "usr/local/cuda");
  fs::create_directory_symlink("/elsewhere", root / "usr/local/cuda/compat");
  touch(root / "elsewhere/libcuda.so.580.65.06");
  files = scanImageCuda(root);
  REQUIRE(files.ok());
  CHECK(files->compatLibraries == std::vector<std::string>{"libcuda.so.580.65.06"});
  CHECK_FALSE(scanImageCuda("/nonexistent-image").ok());
}

TEST_CASE("the compat decision in all its outcomes") {
  using enum CompatDecision::Outcome;
  CudaRequirement needs13{CudaVersion{13, 0}, "NVIDIA_REQUIRE_CUDA", false};
  ImageCudaFiles plain;
  ImageCudaFiles withCompat;
  withCompat.compatLibraries = {"libcuda.so.1", "libcuda.so.580.65.06"};

  // Driver new enough.
  auto ok = decideCudaCompat(needs13, CudaVersion{13, 0}, "580.159.04", plain);
  REQUIRE(ok.ok());
  CHECK(ok->outcome == kDriverSufficient);

  // Driver too old, the image has forward-compatibility libraries.
  auto compat = decideCudaCompat(needs13, CudaVersion{12, 2}, "535.54.03", withCompat);
  REQUIRE(compat.ok());
  CHECK(compat->outcome == kUseImageCompat);
  CHECK(compat->compatDir == "/usr/local/cuda/compat");

  // Driver too old and no compat: one line naming both versions and the minimum driver.
  auto fail = decideCudaCompat(needs13, CudaVersion{12, 2}, "535.54.03", plain);
  REQUIRE_FALSE(fail.ok());
  CHECK(fail.error().message() ==
        "image needs CUDA 13.0 (NVIDIA_REQUIRE_CUDA) but the host's NVIDIA driver 535.54.03 "
        "supports only CUDA 12.2: CUDA 13.0 needs driver >= 580.65.06 (or the image's "
        "forward-compatibility libraries in /usr/local/cuda/compat)");

  CudaRequirement disabled = needs13;
  disabled.checkDisabled = true;
  CHECK(decideCudaCompat(disabled, CudaVersion{12, 2}, "535.54.03", plain)->outcome ==
        kCheckDisabled);
  CHECK(decideCudaCompat({}, berth::Error("not probed"), "x", plain)->outcome == kNoRequirement);
  auto unknown = decideCudaCompat(needs13, berth::Error("dlopen failed"), "580.159.04", plain);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message().find("NVIDIA_DISABLE_REQUIRE=1") != std::string::npos);
}
