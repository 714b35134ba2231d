// The MPI checks before any rank starts, as pure functions over what image_mpi.hpp found:
//   - the step's `srun --mpi` plugin against the image's MPI and PMIx and the host's PMIx
//     (checkStepMpi): a mismatch that will fail is one line; what only might matter is a
//     warning; a PMIx security-module mismatch is fixed by a variable when both share one;
//   - host MPI (an inject set marked host_mpi): the image's MPICH-ABI library replaced by the
//     host's, when the ABI matches and the image's glibc is new enough (checkHostMpi).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/core/result.hpp"
#include "shared/mpi/elf_facts.hpp"
#include "shared/mpi/image_mpi.hpp"

namespace berth::mpi {

// Slurm's MPI plugin of a step, from SLURM_MPI_TYPE ("pmix", "pmix_v4", "pmi2", "none").
enum class StepMpi { kNone, kPmix, kPmi2, kOther };
StepMpi parseStepMpi(std::string_view slurmMpiType);

struct MpiCheck {
  std::optional<std::string> failure;                    // one line: the step cannot work
  std::vector<std::string> warnings;                     // might matter; never stops the step
  std::vector<std::pair<std::string, std::string>> env;  // set in every task (PMIX_MCA_psec)
};

MpiCheck checkStepMpi(const MpiFacts& image, StepMpi step, const PmixFacts& host);

// A host library of a host-MPI inject set.
struct HostLibrary {
  std::string path;
  ElfFacts elf;
};

// The MPICH-ABI sonames, and the other name each is known by (MPICH upstream's libmpi.so.12 is
// Debian's libmpich.so.12): an image linked against either finds the host's library.
std::vector<std::string> mpichAbiNames(std::string_view soname);

// Ok when the host MPI of inject set `set` (its libraries) can replace the image's MPI; else one
// line naming both sides (the ABI, or the glibc versions).
Status checkHostMpi(std::string_view set, const std::vector<HostLibrary>& host,
                    const MpiFacts& image);

}  // namespace berth::mpi
