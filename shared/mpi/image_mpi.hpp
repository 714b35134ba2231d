// The MPI stack of an image (or of the host), read from its files: which MPI (Open MPI, MPICH,
// Intel MPI) and version, how it reaches a process manager (Slurm's mpi/pmix and mpi/pmi2), the
// PMIx library it carries (version, security modules) and the glibc version. Nothing is run:
// libraries are found through the image's ld.so.cache and the usual directories, and read as
// ELF files and strings. `berth inspect --mpi` prints it; the step check (mpi_check.hpp) uses it.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/core/result.hpp"
#include "shared/mpi/elf_facts.hpp"

namespace berth::mpi {

// Reads a whole file by absolute path in the tree being scanned (links followed inside it);
// nothing when it does not exist.
using FileReader = std::function<Result<std::optional<std::string>>(std::string_view path)>;

enum class MpiKind { kNone, kOpenMpi, kMpich, kIntelMpi };
std::string_view mpiKindName(MpiKind kind);  // "Open MPI", "MPICH", "Intel MPI", "no MPI"

// A PMIx library: the client side an image's MPI links, or the host's (Slurm's server side).
struct PmixFacts {
  std::string library;  // its path; empty: none found
  std::string version;  // "4.2.2"; empty when unknown
  // Security modules it can use (psec: munge, native, none), in the order found.
  std::vector<std::string> psec;
  bool found() const { return !library.empty(); }
};

struct MpiFacts {
  MpiKind kind = MpiKind::kNone;
  std::string version;  // "4.1.4"; empty when unknown
  std::string library;  // the MPI library's path
  std::string soname;   // libmpi.so.40, libmpi.so.12, libmpich.so.12
  bool pmix = false;    // works under srun --mpi=pmix
  bool pmi2 = false;    // works under srun --mpi=pmi2
  std::string how;      // one line: what says so ("PMIx via mca_pmix_ext3x.so")
  PmixFacts pmixLibrary;
  std::optional<GlibcVersion> glibc;  // of the tree's libc.so.6
};

// Finds and reads the MPI stack of the tree `read` reads.
[[nodiscard]] Result<MpiFacts> scanMpi(const FileReader& read);

// The PMIx library of a tree alone (the host's, for Slurm's mpi/pmix).
[[nodiscard]] Result<PmixFacts> scanPmix(const FileReader& read);

// The glibc version of the tree (its libc.so.6's highest GLIBC_x.y).
[[nodiscard]] Result<std::optional<GlibcVersion>> scanGlibc(const FileReader& read);

// The facts as `key: value` lines (berth inspect --mpi).
std::string mpiFactsText(const MpiFacts& facts);

// A reader of the host's files (links followed), for scanPmix on the host and inject sets.
FileReader hostFileReader();

// A reader of a container's files through its root directory fd (openat2 inside the root).
FileReader rootFileReader(int rootFd);

}  // namespace berth::mpi
