#include "shared/mpi/image_mpi.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include <fmt/format.h>

#include "shared/core/read_file.hpp"
#include "shared/gpu/ld_cache.hpp"
#include "shared/sys/resolve.hpp"

namespace berth::mpi {
namespace {

// Where libraries live when the tree's ld.so.cache does not list them (images built without
// running ldconfig, vendor trees). Keep in sync with docs/slurm.md ("MPI checks").
constexpr std::string_view kLibraryDirs[] = {
    "/usr/lib/x86_64-linux-gnu",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/lib64",
    "/usr/lib",
    "/lib",
    "/usr/local/lib",
    "/opt/intel/oneapi/mpi/latest/lib",  // Intel MPI (oneAPI)
    "/opt/intel/oneapi/mpi/latest/lib/release",
    "/opt/cray/pe/lib64",  // Cray PE: libmpi.so.12 of Cray MPICH
};

// The MPI libraries by soname, in the order looked for, and what each one is.
struct MpiLibraryRow {
  std::string_view soname;
  MpiKind kind;  // kMpich: MPICH ABI (MPICH, Intel MPI, Cray MPICH, MVAPICH), told apart below
};
constexpr MpiLibraryRow kMpiLibraries[] = {
    {"libmpi.so.40", MpiKind::kOpenMpi},  // Open MPI 3.0 to 5.x
    {"libmpi.so.20", MpiKind::kOpenMpi},  // Open MPI 2.x
    {"libmpi.so.12", MpiKind::kMpich},    // MPICH ABI (upstream name); Open MPI 1.10 too
    {"libmpich.so.12", MpiKind::kMpich},  // MPICH ABI, Debian's and Ubuntu's name
};

// Open MPI's components that reach Slurm's process managers (in ompi's pkglibdir).
constexpr std::string_view kOpenMpiComponentDirs[] = {"openmpi/lib/openmpi3", "openmpi"};
constexpr std::string_view kOpenMpiPmixComponents[] = {
    "mca_pmix_ext3x.so",   // Open MPI 4: an external PMIx >= 3
    "mca_pmix_pmix3x.so",  // Open MPI 4: its own PMIx 3
    "mca_pmix_ext2x.so",   // Open MPI 3: an external PMIx 2
    "mca_pmix_pmix2x.so",  // Open MPI 3: its own PMIx 2
};
constexpr std::string_view kOpenMpiPmi2Components[] = {"mca_pmix_s2.so"};

// PMIx security modules berth knows (psec), by component name.
constexpr std::string_view kPsecModules[] = {"munge", "native", "none", "dummy_handshake"};

struct FoundLibrary {
  std::string path;
  std::string bytes;
};

// Finds libraries of one tree by soname: its ld.so.cache first (the loader's own view), then
// the usual directories.
class LibraryFinder {
 public:
  explicit LibraryFinder(const FileReader& read) : read_(read) {
    auto bytes = read_("/etc/ld.so.cache");
    if (bytes.ok() && *bytes) {
      if (auto cache = gpu::parseLdCache(**bytes); cache.ok())
        cache_ = std::move(*cache);
    }
  }

  Result<std::optional<FoundLibrary>> find(std::string_view soname) const {
    for (const gpu::LdCacheEntry& entry : cache_.entries) {
      if (entry.soname != soname || entry.flags != gpu::hostLibraryFlags())
        continue;
      BERTH_ASSIGN(auto bytes, read_(entry.path));
      if (bytes)
        return std::optional<FoundLibrary>(FoundLibrary{entry.path, std::move(*bytes)});
    }
    for (std::string_view dir : kLibraryDirs) {
      std::string path = fmt::format("{}/{}", dir, soname);
      BERTH_ASSIGN(auto bytes, read_(path));
      if (bytes)
        return std::optional<FoundLibrary>(FoundLibrary{path, std::move(*bytes)});
    }
    return std::optional<FoundLibrary>();
  }

  Result<bool> exists(const std::string& path) const {
    BERTH_ASSIGN(auto bytes, read_(path));
    return bytes.has_value();
  }

 private:
  const FileReader& read_;
  gpu::LdCache cache_;
};

// Calls `visit` with each run of printable characters of `bytes` (as strings(1) sees them),
// until it returns true.
template <typename Visit>
void forEachString(std::string_view bytes, size_t minLength, Visit visit) {
  size_t start = 0;
  for (size_t i = 0; i <= bytes.size(); ++i) {
    bool printable = i < bytes.size() &&
                     (std::isprint(static_cast<unsigned char>(bytes[i])) || bytes[i] == '\t');
    if (printable)
      continue;
    if (i - start >= minLength && visit(bytes.substr(start, i - start)))
      return;
    start = i + 1;
  }
}

// "4.0.2", "4.1b1", "2021.10": digits and dots (two dots at most after the first number),
// optionally a pre-release suffix.
bool isVersion(std::string_view text, int minDots) {
  int dots = 0;
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    if (text[i] == '.') {
      if (i == 0 || text[i - 1] == '.')
        return false;
      ++dots;
    }
    ++i;
  }
  if (i == 0 || dots < minDots || dots > 2 || text[i - 1] == '.')
    return false;
  std::string_view rest = text.substr(i);
  return rest.empty() || rest.starts_with("a") || rest.starts_with("b") || rest.starts_with("rc");
}

// The first string that is a version: "4.0.2" alone (MPICH's MPII_Version_string), or after
// `prefix` ("v4.1.4" in Open MPI's libopen-pal, "OpenPMIx 4.2.2rc2 (...)").
std::string findVersion(std::string_view bytes, std::string_view prefix, int minDots) {
  std::string found;
  forEachString(bytes, 3, [&](std::string_view text) {
    if (!text.starts_with(prefix))
      return false;
    text.remove_prefix(prefix.size());
    std::string_view word = text.substr(0, text.find(' '));
    if (!isVersion(word, minDots))
      return false;
    found = std::string(word);
    return true;
  });
  return found;
}

bool containsString(std::string_view bytes, std::string_view text) {
  return bytes.find(text) != std::string_view::npos;
}

std::string directoryOf(const std::string& path) {
  return std::filesystem::path(path).parent_path().string();
}

Result<PmixFacts> pmixFacts(const LibraryFinder& finder) {
  PmixFacts facts;
  BERTH_ASSIGN(auto library, finder.find("libpmix.so.2"));
  if (!library)
    return facts;
  facts.library = library->path;
  facts.version = findVersion(library->bytes, "OpenPMIx ", 2);
  if (facts.version.empty())
    facts.version = findVersion(library->bytes, "PMIx v", 2);
  for (std::string_view module : kPsecModules) {
    // Built in (Debian's PMIx 4), or a component beside the library.
    bool builtIn =
        containsString(library->bytes, fmt::format("pmix_mca_psec_{}_component", module));
    bool plugin = false;
    if (!builtIn) {
      BERTH_ASSIGN(plugin, finder.exists(fmt::format("{}/pmix/mca_psec_{}.so",
                                                     directoryOf(library->path), module)));
    }
    if (builtIn || plugin)
      facts.psec.emplace_back(module);
  }
  return facts;
}

Status openMpiFacts(const LibraryFinder& finder, MpiFacts& facts) {
  BERTH_ASSIGN(auto pal, finder.find("libopen-pal.so.40"));
  if (!pal) {
    BERTH_ASSIGN(pal, finder.find("libopen-pal.so.80"));  // Open MPI 5
  }
  if (pal)
    facts.version = findVersion(pal->bytes, "v", 2);
  std::string libdir = directoryOf(facts.library);
  for (std::string_view dir : kOpenMpiComponentDirs) {
    for (std::string_view component : kOpenMpiPmixComponents) {
      BERTH_ASSIGN(bool found, finder.exists(fmt::format("{}/{}/{}", libdir, dir, component)));
      if (found && !facts.pmix) {
        facts.pmix = true;
        facts.how = fmt::format("PMIx through {}", component);
      }
    }
    for (std::string_view component : kOpenMpiPmi2Components) {
      BERTH_ASSIGN(bool found, finder.exists(fmt::format("{}/{}/{}", libdir, dir, component)));
      facts.pmi2 = facts.pmi2 || found;
    }
  }
  // Open MPI 5 links PMIx directly.
  if (!facts.pmix && pal) {
    BERTH_ASSIGN(ElfFacts elf, readElfFacts(pal->bytes).withContext(facts.library));
    if (std::ranges::find(elf.needed, "libpmix.so.2") != elf.needed.end()) {
      facts.pmix = true;
      facts.how = "PMIx linked into libopen-pal";
    }
  }
  if (!facts.pmix)
    facts.how = "no PMIx component (mca_pmix_ext3x.so and the like)";
  return okStatus();
}

}  // namespace

std::string_view mpiKindName(MpiKind kind) {
  switch (kind) {
    case MpiKind::kOpenMpi:
      return "Open MPI";
    case MpiKind::kMpich:
      return "MPICH";
    case MpiKind::kIntelMpi:
      return "Intel MPI";
    case MpiKind::kNone:
      break;
  }
  return "no MPI";
}

Result<PmixFacts> scanPmix(const FileReader& read) {
  LibraryFinder finder(read);
  return pmixFacts(finder);
}

Result<std::optional<GlibcVersion>> scanGlibc(const FileReader& read) {
  LibraryFinder finder(read);
  BERTH_ASSIGN(auto libc, finder.find("libc.so.6"));
  if (!libc)
    return std::optional<GlibcVersion>();
  BERTH_ASSIGN(ElfFacts elf, readElfFacts(libc->bytes).withContext(libc->path));
  return highestGlibc(elf.defVersions);
}

Result<MpiFacts> scanMpi(const FileReader& read) {
  LibraryFinder finder(read);
  MpiFacts facts;
  BERTH_ASSIGN(facts.glibc, scanGlibc(read));
  BERTH_ASSIGN(facts.pmixLibrary, pmixFacts(finder));
  std::optional<FoundLibrary> library;
  for (const MpiLibraryRow& row : kMpiLibraries) {
    BERTH_ASSIGN(library, finder.find(row.soname));
    if (library) {
      facts.kind = row.kind;
      facts.soname = std::string(row.soname);
      break;
    }
  }
  if (!library)
    return facts;
  facts.library = library->path;
  BERTH_ASSIGN(ElfFacts elf, readElfFacts(library->bytes).withContext(facts.library));
  bool linksPmix = std::ranges::find(elf.needed, "libpmix.so.2") != elf.needed.end();
  bool openPal = std::ranges::any_of(
      elf.needed, [](const std::string& name) { return name.starts_with("libopen-"); });
  if (facts.kind == MpiKind::kOpenMpi || openPal) {
    facts.kind = MpiKind::kOpenMpi;
    BERTH_TRY(openMpiFacts(finder, facts));
  } else if (containsString(library->bytes, "Intel(R) MPI Library")) {
    facts.kind = MpiKind::kIntelMpi;
    facts.version = findVersion(library->bytes, "Intel(R) MPI Library ", 1);
    // Intel MPI speaks PMI-1, PMI-2 (I_MPI_PMI=pmi2) and PMIx (I_MPI_PMI=pmix) itself.
    facts.pmix = facts.pmi2 = true;
    facts.how = "Intel MPI: set I_MPI_PMI=pmix or pmi2 (and I_MPI_PMI_LIBRARY) to match --mpi";
  } else {
    facts.version = findVersion(library->bytes, "", 2);
    // MPICH speaks PMI-1/PMI-2 itself, PMIx only when built with it (then only PMIx).
    facts.pmix = linksPmix;
    facts.pmi2 = !linksPmix;
    facts.how = linksPmix ? "MPICH built with PMIx (libpmix.so.2)"
                          : "MPICH built without PMIx (its own PMI-1/PMI-2 client)";
  }
  return facts;
}

std::string mpiFactsText(const MpiFacts& facts) {
  auto yesNo = [](bool value) { return value ? "yes" : "no"; };
  std::string text;
  text += fmt::format("mpi: {}\n", mpiKindName(facts.kind));
  if (facts.kind != MpiKind::kNone) {
    text += fmt::format("mpi_version: {}\n", facts.version.empty() ? "unknown" : facts.version);
    text += fmt::format("mpi_library: {} ({})\n", facts.library, facts.soname);
    text += fmt::format("mpi_abi: {}\n", facts.soname.ends_with(".so.12") ? "MPICH" : "Open MPI");
    text += fmt::format("srun_mpi_pmix: {}\n", yesNo(facts.pmix));
    text += fmt::format("srun_mpi_pmi2: {}\n", yesNo(facts.pmi2));
    text += fmt::format("mpi_pmi: {}\n", facts.how);
  }
  if (facts.pmixLibrary.found()) {
    text += fmt::format("pmix_library: {}\n", facts.pmixLibrary.library);
    text += fmt::format("pmix_version: {}\n",
                        facts.pmixLibrary.version.empty() ? "unknown" : facts.pmixLibrary.version);
    text += fmt::format("pmix_psec: {}\n", fmt::join(facts.pmixLibrary.psec, ","));
  } else {
    text += "pmix_library: none\n";
  }
  text += fmt::format("glibc: {}\n", facts.glibc ? facts.glibc->text() : "unknown");
  return text;
}

FileReader hostFileReader() {
  return [](std::string_view path) -> Result<std::optional<std::string>> {
    Result<std::string> bytes = readWholeFile(std::string(path));
    if (!bytes.ok()) {
      if (bytes.error().errnum() == ENOENT || bytes.error().errnum() == ENOTDIR)
        return std::optional<std::string>();
      return std::move(bytes).error();
    }
    return std::optional<std::string>(std::move(*bytes));
  };
}

FileReader rootFileReader(int rootFd) {
  return [rootFd](std::string_view path) -> Result<std::optional<std::string>> {
    // Libraries can be large (Intel MPI's is ~100 MB); nothing bigger is an MPI library.
    constexpr size_t kLimit = size_t{512} << 20;
    Result<std::string> bytes = sys::readFileInRoot(rootFd, path, kLimit);
    if (!bytes.ok()) {
      if (bytes.error().errnum() == ENOENT || bytes.error().errnum() == ENOTDIR)
        return std::optional<std::string>();
      return std::move(bytes).error();
    }
    return std::optional<std::string>(std::move(*bytes));
  };
}

}  // namespace berth::mpi
