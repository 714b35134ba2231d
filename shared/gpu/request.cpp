#include "shared/gpu/request.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "shared/core/strings.hpp"

namespace berth::gpu {
namespace {

constexpr unsigned kMaxGpuIndex = 254;  // minors 255/254 are nvidiactl/nvidia-modeset

Result<unsigned> parseIndex(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      value >= kMaxGpuIndex)
    return Error(fmt::format("`{}` is not a GPU index", text));
  return value;
}

}  // namespace

Result<std::vector<unsigned>> parseIndexList(std::string_view text) {
  std::vector<unsigned> indices;
  if (trim(text).empty())
    return indices;
  for (const std::string& field : split(text, ',')) {
    std::string_view item = trim(field);
    size_t dash = item.find('-');
    if (dash == std::string_view::npos) {
      BERTH_ASSIGN(unsigned index, parseIndex(item));
      indices.push_back(index);
      continue;
    }
    BERTH_ASSIGN(unsigned first, parseIndex(item.substr(0, dash)));
    BERTH_ASSIGN(unsigned last, parseIndex(item.substr(dash + 1)));
    if (last < first)
      return Error(fmt::format("GPU range `{}` is backwards", item));
    for (unsigned i = first; i <= last; ++i)
      indices.push_back(i);
  }
  std::sort(indices.begin(), indices.end());
  indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
  return indices;
}

Result<GpuRequest> parseGpuRequest(std::string_view mode, std::string_view caps) {
  GpuRequest request;
  BERTH_ASSIGN(request.capabilities, parseCapabilities(caps));
  std::string_view value = trim(mode);
  if (value.empty() || value == "auto") {
    request.mode = GpuRequest::Mode::kAuto;
  } else if (value == "all") {
    request.mode = GpuRequest::Mode::kAll;
  } else if (value == "none") {
    request.mode = GpuRequest::Mode::kNone;
  } else {
    auto indices = parseIndexList(value);
    if (!indices.ok())
      return Error(fmt::format(
          "GPU selection `{}`: want auto, all, none or a list of GPU indices like 0,1", value));
    request.mode = GpuRequest::Mode::kList;
    request.indices = std::move(indices).value();
  }
  return request;
}

Result<std::optional<std::vector<unsigned>>> slurmAllocatedGpus(const EnvLookup& getenv) {
  // SLURM_STEP_GPUS is the step's own; SLURM_JOB_GPUS, in the batch step, the job's.
  for (std::string_view name : {"SLURM_STEP_GPUS", "SLURM_JOB_GPUS"}) {
    if (auto value = getenv(name)) {
      BERTH_ASSIGN(auto indices, parseIndexList(*value).withContext(name));
      return std::optional<std::vector<unsigned>>(std::move(indices));
    }
  }
  return std::optional<std::vector<unsigned>>();
}

std::string formatIndexList(const std::vector<unsigned>& indices) {
  return fmt::format("{}", fmt::join(indices, ","));
}

}  // namespace berth::gpu
