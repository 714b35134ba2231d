#include "shared/mpi/mpi_check.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace berth::mpi {
namespace {

// MPICH ABI library pairs: upstream name, Debian/Ubuntu name (same ABI, same soname version).
constexpr std::pair<std::string_view, std::string_view> kMpichAbiPairs[] = {
    {"libmpi.so.12", "libmpich.so.12"},
    {"libmpicxx.so.12", "libmpichcxx.so.12"},
    {"libmpifort.so.12", "libmpichfort.so.12"},
};

std::string describe(const MpiFacts& image) {
  return image.version.empty() ? std::string(mpiKindName(image.kind))
                               : fmt::format("{} {}", mpiKindName(image.kind), image.version);
}

int majorOf(std::string_view version) {
  int major = 0;
  for (char c : version) {
    if (c < '0' || c > '9')
      break;
    major = major * 10 + (c - '0');
  }
  return major;
}

void checkPmix(const MpiFacts& image, const PmixFacts& host, MpiCheck& check) {
  if (!image.pmix) {
    std::string instead = image.pmi2 ? "use --mpi=pmi2"
                          : image.kind == MpiKind::kOpenMpi
                              ? "use an image with Open MPI >= 3 built with PMIx"
                              : "use an image whose MPI is built with PMIx";
    check.failure = fmt::format("srun --mpi=pmix: the image's {} has no PMIx support ({}): {}",
                                describe(image), image.how, instead);
    return;
  }
  const PmixFacts& client = image.pmixLibrary;
  if (!client.found() || !host.found())
    return;
  int clientMajor = majorOf(client.version);
  int hostMajor = majorOf(host.version);
  if (clientMajor != 0 && hostMajor != 0 && clientMajor != hostMajor) {
    // PMIx talks across versions from 3.x on; older clients fail in their first exchange.
    if (clientMajor < 3 || hostMajor < 3) {
      check.failure = fmt::format(
          "srun --mpi=pmix: the image's PMIx {} cannot talk to the host's PMIx {} (PMIx speaks "
          "across versions only from 3.x on): use an image with PMIx >= 3",
          client.version, host.version);
      return;
    }
    check.warnings.push_back(fmt::format(
        "the image's PMIx {} differs from the host's PMIx {} (they should interoperate)",
        client.version, host.version));
  }
  if (client.psec.empty() || host.psec.empty())
    return;
  std::vector<std::string> common;
  for (const std::string& module : host.psec)
    if (std::ranges::find(client.psec, module) != client.psec.end())
      common.push_back(module);
  if (common.empty()) {
    check.failure = fmt::format(
        "srun --mpi=pmix: the image's PMIx {} has security modules {} and the host's PMIx {} "
        "offers {}: none in common",
        client.version, fmt::join(client.psec, ","), host.version, fmt::join(host.psec, ","));
    return;
  }
  // The client would try the host's first choice (pyxis#88, #139: a munge credential the
  // image cannot make): restrict it to the modules both speak.
  if (common.front() != host.psec.front())
    check.env.emplace_back("PMIX_MCA_psec", fmt::format("{}", fmt::join(common, ",")));
}

}  // namespace

StepMpi parseStepMpi(std::string_view type) {
  if (type.empty() || type == "none")
    return StepMpi::kNone;
  if (type.starts_with("pmix"))
    return StepMpi::kPmix;
  if (type == "pmi2")
    return StepMpi::kPmi2;
  return StepMpi::kOther;
}

MpiCheck checkStepMpi(const MpiFacts& image, StepMpi step, const PmixFacts& host) {
  MpiCheck check;
  if (image.kind == MpiKind::kNone)
    return check;
  if (step == StepMpi::kPmix) {
    checkPmix(image, host, check);
  } else if (step == StepMpi::kPmi2 && !image.pmi2) {
    check.failure = fmt::format(
        "srun --mpi=pmi2: the image's {} has no Slurm PMI-2 support ({}): use --mpi=pmix",
        describe(image), image.pmix ? "it speaks PMIx" : image.how);
  }
  return check;
}

std::vector<std::string> mpichAbiNames(std::string_view soname) {
  for (const auto& [upstream, debian] : kMpichAbiPairs)
    if (soname == upstream || soname == debian)
      return {std::string(upstream), std::string(debian)};
  return {};
}

Status checkHostMpi(std::string_view set, const std::vector<HostLibrary>& host,
                    const MpiFacts& image) {
  auto mpi = std::ranges::find_if(
      host, [](const HostLibrary& library) { return !mpichAbiNames(library.elf.soname).empty(); });
  if (mpi == host.end())
    return Error(
        fmt::format("inject set `{}`: host MPI needs an MPICH-ABI library (soname libmpi.so.12 or "
                    "libmpich.so.12) among its libraries",
                    set));
  if (image.kind == MpiKind::kNone)
    return Error(fmt::format(
        "host MPI (inject set `{}`, {}): the image has no MPI library to replace (libmpi.so.12 "
        "or libmpich.so.12)",
        set, mpi->elf.soname));
  if (mpichAbiNames(image.soname).empty())
    return Error(fmt::format(
        "host MPI (inject set `{}`) is MPICH ABI ({}), the image's {} is not ({}): use the "
        "image's own MPI (srun --mpi=pmix) or an image built with MPICH",
        set, mpi->elf.soname, describe(image), image.soname));
  std::optional<GlibcVersion> needed;
  std::string neededBy;
  for (const HostLibrary& library : host) {
    auto version = highestGlibc(library.elf.needVersions);
    if (version && (!needed || *version > *needed)) {
      needed = version;
      neededBy = library.path;
    }
  }
  if (needed && image.glibc && *image.glibc < *needed)
    return Error(fmt::format(
        "host MPI (inject set `{}`) needs glibc >= {} ({}), the image has glibc {}: use an image "
        "with a newer glibc, or the image's own MPI",
        set, needed->text(), neededBy, image.glibc->text()));
  return okStatus();
}

}  // namespace berth::mpi
