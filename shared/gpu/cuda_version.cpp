#include "shared/gpu/cuda_version.hpp"

#include <array>
#include <charconv>

#include <fmt/format.h>

#include "shared/core/strings.hpp"

namespace berth::gpu {
namespace {

struct DriverRow {
  CudaVersion cuda;
  std::string_view driver;
};

// Minimum Linux x86_64 driver per CUDA GA release (release notes, Table 3). Update releases
// sometimes need a slightly newer driver of the same branch; the check itself uses the CUDA
// version libcuda reports, this table only makes its message useful.
constexpr std::array kMinimumDrivers = {
    DriverRow{{10, 0}, "410.48"},     // CUDA 10.0.130 GA
    DriverRow{{10, 1}, "418.39"},     // CUDA 10.1.105 GA
    DriverRow{{10, 2}, "440.33"},     // CUDA 10.2.89 GA
    DriverRow{{11, 0}, "450.51.05"},  // CUDA 11.0.2 GA (11.0.1 RC: 450.36.06)
    DriverRow{{11, 1}, "455.23"},     // CUDA 11.1.0 GA
    DriverRow{{11, 2}, "460.27.03"},  // CUDA 11.2.0 GA
    DriverRow{{11, 3}, "465.19.01"},  // CUDA 11.3.0 GA
    DriverRow{{11, 4}, "470.42.01"},  // CUDA 11.4.0 GA
    DriverRow{{11, 5}, "495.29.05"},  // CUDA 11.5.0 GA
    DriverRow{{11, 6}, "510.39.01"},  // CUDA 11.6.0 GA
    DriverRow{{11, 7}, "515.43.04"},  // CUDA 11.7.0 GA
    DriverRow{{11, 8}, "520.61.05"},  // CUDA 11.8.0 GA
    DriverRow{{12, 0}, "525.60.13"},  // CUDA 12.0.0 GA
    DriverRow{{12, 1}, "530.30.02"},  // CUDA 12.1.0 GA
    DriverRow{{12, 2}, "535.54.03"},  // CUDA 12.2.0 GA
    DriverRow{{12, 3}, "545.23.06"},  // CUDA 12.3.0 GA
    DriverRow{{12, 4}, "550.54.14"},  // CUDA 12.4.0 GA
    DriverRow{{12, 5}, "555.42.02"},  // CUDA 12.5.0 GA
    DriverRow{{12, 6}, "560.28.03"},  // CUDA 12.6.0 GA
    DriverRow{{12, 8}, "570.26"},     // CUDA 12.8.0 GA (there is no 12.7)
    DriverRow{{12, 9}, "575.51.03"},  // CUDA 12.9.0 GA
    DriverRow{{13, 0}, "580.65.06"},  // CUDA 13.0.0 GA
};

Result<int> parseNumber(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || value < 0)
    return Error(fmt::format("`{}` is not a number", text));
  return value;
}

// Whether NVIDIA_DISABLE_REQUIRE's value turns the check off (libnvidia-container: any value
// that is not a false boolean).
bool isTrueish(std::string_view value) {
  return !(value == "0" || value == "false" || value == "False" || value == "FALSE");
}

}  // namespace

Result<CudaVersion> CudaVersion::parse(std::string_view text) {
  std::vector<std::string> parts = split(trim(text), '.');
  if (parts.empty() || parts.size() > 3)
    return Error(fmt::format("`{}` is not a CUDA version", text));
  CudaVersion version;
  auto major = parseNumber(parts[0]);
  auto minor = parts.size() > 1 ? parseNumber(parts[1]) : Result<int>(0);
  auto patch = parts.size() > 2 ? parseNumber(parts[2]) : Result<int>(0);
  if (!major.ok() || !minor.ok() || !patch.ok())
    return Error(fmt::format("`{}` is not a CUDA version", text));
  version.major = *major;
  version.minor = *minor;
  return version;
}

std::string CudaVersion::str() const {
  return fmt::format("{}.{}", major, minor);
}

std::optional<std::string_view> minimumDriverFor(CudaVersion version) {
  for (const auto& row : kMinimumDrivers) {
    if (row.cuda == version)
      return row.driver;
  }
  // An update or minor release between rows needs at least the previous row's driver; a
  // version past the table is unknown.
  if (version > kMinimumDrivers.back().cuda)
    return std::nullopt;
  std::optional<std::string_view> best;
  for (const auto& row : kMinimumDrivers) {
    if (row.cuda < version)
      best = row.driver;
  }
  return best;
}

Result<std::optional<CudaVersion>> parseRequireCuda(std::string_view value) {
  std::optional<CudaVersion> minimum;
  for (const std::string& alternative : split(value, ' ')) {
    if (trim(alternative).empty())
      continue;
    for (const std::string& condition : split(alternative, ',')) {
      std::string_view text = trim(condition);
      size_t op = text.find_first_of("<>=");
      if (op == std::string_view::npos || op == 0)
        return Error(fmt::format("NVIDIA_REQUIRE_CUDA: condition `{}` has no operator", text));
      size_t opEnd = text.find_first_not_of("<>=", op);
      if (opEnd == std::string_view::npos)
        return Error(fmt::format("NVIDIA_REQUIRE_CUDA: condition `{}` has no value", text));
      std::string_view name = text.substr(0, op);
      std::string_view oper = text.substr(op, opEnd - op);
      std::string_view operand = text.substr(opEnd);
      if (oper != ">=" && oper != ">" && oper != "<=" && oper != "<" && oper != "=")
        return Error(fmt::format("NVIDIA_REQUIRE_CUDA: unknown operator `{}` in `{}`", oper, text));
      if (name != "cuda")
        continue;  // brand, driver, arch: see CudaRequirement
      auto version = CudaVersion::parse(operand);
      if (!version.ok())
        return std::move(version).error().withContext("NVIDIA_REQUIRE_CUDA");
      if ((oper == ">=" || oper == ">" || oper == "=") && (!minimum || *minimum < *version))
        minimum = *version;
    }
  }
  return minimum;
}

Result<CudaRequirement> cudaRequirementOf(const std::vector<std::string>& env,
                                          const std::map<std::string, std::string>& labels,
                                          std::optional<CudaVersion> cudartVersion) {
  auto lookup = [&](std::string_view name) -> std::optional<std::string> {
    std::optional<std::string> found;
    for (const std::string& entry : env) {  // the last definition wins, as in a shell
      if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=')
        found = entry.substr(name.size() + 1);
    }
    return found;
  };
  CudaRequirement requirement;
  if (auto disable = lookup("NVIDIA_DISABLE_REQUIRE"))
    requirement.checkDisabled = isTrueish(*disable);

  if (auto require = lookup("NVIDIA_REQUIRE_CUDA")) {
    BERTH_ASSIGN(requirement.minimum, parseRequireCuda(*require));
    if (requirement.minimum) {
      requirement.source = "NVIDIA_REQUIRE_CUDA";
      return requirement;
    }
  }
  if (auto cudaVersion = lookup("CUDA_VERSION")) {
    BERTH_ASSIGN(requirement.minimum,
                 CudaVersion::parse(*cudaVersion).withContext("image variable CUDA_VERSION"));
    requirement.source = "CUDA_VERSION";
    return requirement;
  }
  if (auto label = labels.find("com.nvidia.cuda.version"); label != labels.end()) {
    BERTH_ASSIGN(
        requirement.minimum,
        CudaVersion::parse(label->second).withContext("image label com.nvidia.cuda.version"));
    requirement.source = "label com.nvidia.cuda.version";
    return requirement;
  }
  if (cudartVersion) {
    requirement.minimum = cudartVersion;
    requirement.source = "the image's libcudart";
  }
  return requirement;
}

}  // namespace berth::gpu
