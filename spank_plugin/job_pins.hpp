// One pin per job: the digest a job's first step pinned a tag to, remembered on the node for
// the job's later steps, so that srun asks the registry once per job and reference (the same
// reference means the same image within a job; a new job sees a moved tag).
//
// slurmstepd (root) writes STATE_DIR/pins/job<ID> when a step ran an image srun had pinned:
// a header line "uid UID" (the job's user), then one "DIGEST IMAGE" line per reference, IMAGE
// as the user gave it; the first line for a reference stays. srun (the user) reads it when it
// runs inside the job (SLURM_JOB_ID; a batch script, or any node of the allocation) and
// believes it only when no one but root can change the file or a directory above it, and it
// names the user. The job epilog removes it. A step run from elsewhere (salloc on a login
// node) pins as before: one request per step.
//
// Security: the file is root's, written only for the job's own steps, from the pin the job's
// own srun passed (BERTH_CONTAINER_IMAGE_PIN, which a user could set to any digest anyway):
// a user can never make another user's job run a digest of their choosing.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "shared/core/result.hpp"

namespace berth::spank {

// STATE_DIR/pins/job<ID>.
std::filesystem::path jobPinFile(const std::filesystem::path& stateDir, uint32_t jobId);

// The job id of an srun inside a job: SLURM_JOB_ID (or SLURM_JOBID) of `value`'s environment.
std::optional<uint32_t> parseJobId(const std::optional<std::string>& value);

// srun: the digest job `jobId`'s steps ran `image` with, for user `uid`; nothing when there is
// none or the file cannot be believed.
std::optional<std::string> readJobPin(const std::filesystem::path& stateDir, uint32_t jobId,
                                      uid_t uid, std::string_view image);

// slurmstepd (root): remembers that job `jobId` (of user `uid`) runs `image` as `digest`,
// unless the job has a digest for it already. Refuses a malformed digest or image.
[[nodiscard]] Status recordJobPin(const std::filesystem::path& stateDir, uint32_t jobId, uid_t uid,
                                  std::string_view image, std::string_view digest);

// Job epilog (root): forgets the job's pins on this node.
[[nodiscard]] Status removeJobPins(const std::filesystem::path& stateDir, uint32_t jobId);

}  // namespace berth::spank
