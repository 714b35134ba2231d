// srun, sbatch and salloc (as the user, nothing privileged): options from the command line and
// BERTH_CONTAINER_* variables, checked early so the user sees mistakes before the job starts;
// a tag pinned to a digest so that every node of the job runs the same image.
#pragma once

#include "shared/core/log.hpp"
#include "shared/core/result.hpp"
#include "spank_plugin/container_backend.hpp"
#include "spank_plugin/spank_context.hpp"
#include "spank_plugin/step_state.hpp"

namespace berth::spank {

// `env` is the process environment (what the job inherits); `userLog` reaches the user's
// terminal. An error fails the command with one `berth:` line. Inside a job (srun in a batch
// script or an allocation: SLURM_JOB_ID), a tag the job's earlier steps ran is not pinned
// again (backend.jobPin); sbatch and salloc make a new job and pass no jobPin.
Status prepareSubmission(StepState& state, const Environment& env, const Backend& backend,
                         const Logger& userLog);

// The image pin a slurmstepd should use: the digest in `pinValue` ("DIGEST IMAGE") when it
// was made for `image`.
std::optional<std::string> pinnedDigestFor(std::string_view image,
                                           const std::optional<std::string>& pinValue);

}  // namespace berth::spank
