#include "spank_plugin/local_side.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "spank_plugin/job_pins.hpp"
#include "spank_plugin/option_checks.hpp"

namespace berth::spank {

std::optional<std::string> pinnedDigestFor(std::string_view image,
                                           const std::optional<std::string>& pinValue) {
  if (!pinValue)
    return std::nullopt;
  size_t space = pinValue->find(' ');
  if (space == std::string::npos || std::string_view(*pinValue).substr(space + 1) != image)
    return std::nullopt;
  std::string digest = pinValue->substr(0, space);
  if (digest.rfind("sha256:", 0) != 0)
    return std::nullopt;
  return digest;
}

Status prepareSubmission(StepState& state, const Environment& env, const Backend& backend,
                         const Logger& userLog) {
  OptionValues& values = state.options;
  values.applyEnvironment(env.get);
  for (std::string_view name : values.givenWithoutImage())
    userLog.info("berth: --{} ignored: no --container-image given", name);
  std::optional<std::string> image = values.get(OptionId::kImage);
  if (!image) {
    // A pin left in the environment by an enclosing job must not follow a step without image.
    if (env.get(kPinVariable))
      BERTH_TRY(env.unset(kPinVariable));
    return okStatus();
  }
  BERTH_TRY(checkOptionValues(values, state.site));

  if (isImagePath(*image)) {
    // srun runs as the user: this is the user's own view of the file.
    if (::access(image->c_str(), R_OK) != 0)
      return errnoError(fmt::format("--container-image={}", *image));
    return okStatus();
  }
  // An enclosing job (sbatch) may have pinned this very image already, or an earlier step of
  // the job it runs in (one pin per job: job_pins.hpp).
  std::optional<std::string> digest = pinnedDigestFor(*image, env.get(kPinVariable));
  if (!digest && backend.jobPin) {
    std::optional<uint32_t> job = parseJobId(env.get("SLURM_JOB_ID"));
    if (!job)
      job = parseJobId(env.get("SLURM_JOBID"));
    if (job)
      digest = backend.jobPin(*job, *image);
  }
  if (!digest && backend.pinDigest) {
    BERTH_ASSIGN(
        digest, backend.pinDigest(*image).withContext(fmt::format("--container-image={}", *image)));
  }
  if (digest) {
    BERTH_TRY(env.set(kPinVariable, fmt::format("{} {}", *digest, *image)));
  } else if (env.get(kPinVariable)) {
    BERTH_TRY(env.unset(kPinVariable));
  }
  if (backend.isCached && !backend.isCached(*image, digest))
    userLog.info("berth: {} is not in the image cache yet: the nodes pull it first", *image);
  return okStatus();
}

}  // namespace berth::spank
