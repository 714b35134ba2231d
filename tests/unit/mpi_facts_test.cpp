// shared/mpi: ELF facts, the MPI stack read from a tree's files, and the checks before ranks.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>

#include "shared/core/read_file.hpp"
#include "shared/mpi/elf_facts.hpp"
#include "shared/mpi/image_mpi.hpp"
#include "shared/mpi/mpi_check.hpp"

using namespace berth::mpi;

namespace {

constexpr const char* kHostLibDir = "/usr/lib/x86_64-linux-gnu";

std::string hostFile(const std::string& name) {
  auto bytes = berth::readWholeFile(std::string(kHostLibDir) + "/" + name);
  REQUIRE(bytes.ok());
  return *bytes;
}

bool haveHostFile(const std::string& name) {
  return std::filesystem::exists(std::string(kHostLibDir) + "/" + name);
}

// A tree made of host files: each tree path read from a host path (no ld.so.cache).
FileReader treeOf(std::map<std::string, std::string> files) {
  return [files = std::move(files)](
             std::string_view path) -> berth::Result<std::optional<std::string>> {
    auto it = files.find(std::string(path));
    if (it == files.end())
      return std::optional<std::string>();
    auto bytes = berth::readWholeFile(it->second);
    if (!bytes.ok())
      return std::move(bytes).error();
    return std::optional<std::string>(std::move(*bytes));
  };
}

std::string lib(const std::string& name) {
  return std::string(kHostLibDir) + "/" + name;
}

}  // namespace

TEST_CASE("mpi elf: soname, needed libraries and versions of real libraries") {
  auto libc = readElfFacts(hostFile("libc.so.6"));
  REQUIRE(libc.ok());
  CHECK(libc->soname == "libc.so.6");
  auto glibc = highestGlibc(libc->defVersions);
  REQUIRE(glibc);
  CHECK(*glibc >= GlibcVersion{2, 36});
  auto pmix = readElfFacts(hostFile("libpmix.so.2"));
  REQUIRE(pmix.ok());
  CHECK(pmix->soname == "libpmix.so.2");
  CHECK(std::find(pmix->needed.begin(), pmix->needed.end(), "libc.so.6") != pmix->needed.end());
  auto needs = highestGlibc(pmix->needVersions);
  REQUIRE(needs);
  CHECK(*needs <= *glibc);
}

TEST_CASE("mpi elf: what is not an ELF64 file, or is cut short, is an error") {
  CHECK_FALSE(readElfFacts("").ok());
  CHECK_FALSE(readElfFacts("#!/bin/sh\n").ok());
  std::string libc = hostFile("libc.so.6");
  auto cut = readElfFacts(std::string_view(libc).substr(0, 4096));
  REQUIRE_FALSE(cut.ok());
  CHECK(cut.error().message().find("truncated") != std::string::npos);
  // Every prefix length parses or fails cleanly (no read past the end).
  for (size_t size : {64u, 100u, 1000u, 65536u})
    (void)readElfFacts(std::string_view(libc).substr(0, size));
}

TEST_CASE("mpi elf: glibc version names") {
  CHECK(parseGlibcVersionName("GLIBC_2.34") == GlibcVersion{2, 34});
  CHECK(parseGlibcVersionName("GLIBC_2.2.5") == GlibcVersion{2, 2});
  CHECK_FALSE(parseGlibcVersionName("GLIBC_PRIVATE"));
  CHECK_FALSE(parseGlibcVersionName("GCC_3.0"));
  CHECK(highestGlibc({"GLIBC_2.2.5", "GLIBC_2.17", "GLIBC_2.3.4", "GLIBC_PRIVATE"}) ==
        GlibcVersion{2, 17});
  CHECK(GlibcVersion{2, 17}.text() == "2.17");
}

TEST_CASE("mpi scan: Open MPI with PMIx, its version, the PMIx library and glibc") {
  auto facts = scanMpi(treeOf({
      {"/usr/lib/x86_64-linux-gnu/libc.so.6", lib("libc.so.6")},
      {"/usr/lib/x86_64-linux-gnu/libmpi.so.40", lib("libmpi.so.40")},
      {"/usr/lib/x86_64-linux-gnu/libopen-pal.so.40", lib("libopen-pal.so.40")},
      {"/usr/lib/x86_64-linux-gnu/libpmix.so.2", lib("libpmix.so.2")},
      {"/usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3/mca_pmix_ext3x.so",
       lib("openmpi/lib/openmpi3/mca_pmix_ext3x.so")},
  }));
  REQUIRE(facts.ok());
  CHECK(facts->kind == MpiKind::kOpenMpi);
  CHECK(facts->version == "4.1.4");
  CHECK(facts->soname == "libmpi.so.40");
  CHECK(facts->pmix);
  CHECK_FALSE(facts->pmi2);
  CHECK(facts->how.find("mca_pmix_ext3x.so") != std::string::npos);
  CHECK(facts->pmixLibrary.version.starts_with("4.2"));
  // Debian's PMIx 4 has its security modules built in.
  CHECK(facts->pmixLibrary.psec.size() >= 2);
  CHECK(facts->pmixLibrary.psec[0] == "munge");
  CHECK(facts->pmixLibrary.psec[1] == "native");
  REQUIRE(facts->glibc);
  std::string text = mpiFactsText(*facts);
  CHECK(text.find("mpi: Open MPI\nmpi_version: 4.1.4\n") != std::string::npos);
  CHECK(text.find("srun_mpi_pmix: yes\nsrun_mpi_pmi2: no\n") != std::string::npos);
}

TEST_CASE("mpi scan: the same Open MPI without its PMIx component has no PMIx support") {
  auto facts = scanMpi(treeOf({
      {"/usr/lib/x86_64-linux-gnu/libmpi.so.40", lib("libmpi.so.40")},
      {"/usr/lib/x86_64-linux-gnu/libopen-pal.so.40", lib("libopen-pal.so.40")},
  }));
  REQUIRE(facts.ok());
  CHECK(facts->kind == MpiKind::kOpenMpi);
  CHECK_FALSE(facts->pmix);
  CHECK_FALSE(facts->pmixLibrary.found());
  MpiCheck check = checkStepMpi(*facts, StepMpi::kPmix, {});
  REQUIRE(check.failure);
  CHECK(*check.failure ==
        "srun --mpi=pmix: the image's Open MPI 4.1.4 has no PMIx support (no PMIx component "
        "(mca_pmix_ext3x.so and the like)): use an image with Open MPI >= 3 built with PMIx");
}

TEST_CASE("mpi scan: Debian's MPICH (libmpich.so.12) speaks PMI-2, not PMIx") {
  if (!haveHostFile("libmpich.so.12"))
    return;  // scripts/install-deps installs it
  auto facts = scanMpi(treeOf({{"/lib64/libmpich.so.12", lib("libmpich.so.12")}}));
  REQUIRE(facts.ok());
  CHECK(facts->kind == MpiKind::kMpich);
  CHECK(facts->version == "4.0.2");
  CHECK(facts->library == "/lib64/libmpich.so.12");
  CHECK(facts->pmi2);
  CHECK_FALSE(facts->pmix);
  MpiCheck check = checkStepMpi(*facts, StepMpi::kPmix, {});
  REQUIRE(check.failure);
  CHECK(*check.failure ==
        "srun --mpi=pmix: the image's MPICH 4.0.2 has no PMIx support (MPICH built without PMIx "
        "(its own PMI-1/PMI-2 client)): use --mpi=pmi2");
  CHECK_FALSE(checkStepMpi(*facts, StepMpi::kPmi2, {}).failure);
}

TEST_CASE("mpi scan: a tree without MPI") {
  auto facts = scanMpi(treeOf({{"/lib/x86_64-linux-gnu/libc.so.6", lib("libc.so.6")}}));
  REQUIRE(facts.ok());
  CHECK(facts->kind == MpiKind::kNone);
  CHECK(facts->glibc);
  CHECK_FALSE(checkStepMpi(*facts, StepMpi::kPmix, {}).failure);
  CHECK(mpiFactsText(*facts).starts_with("mpi: no MPI\npmix_library: none\nglibc: "));
}

TEST_CASE("mpi check: the step's plugin") {
  CHECK(parseStepMpi("") == StepMpi::kNone);
  CHECK(parseStepMpi("none") == StepMpi::kNone);
  CHECK(parseStepMpi("pmix_v4") == StepMpi::kPmix);
  CHECK(parseStepMpi("pmi2") == StepMpi::kPmi2);
  CHECK(parseStepMpi("cray_shasta") == StepMpi::kOther);

  MpiFacts ompi;
  ompi.kind = MpiKind::kOpenMpi;
  ompi.version = "4.1.4";
  ompi.pmix = true;
  ompi.pmixLibrary = {"/usr/lib/libpmix.so.2", "4.2.2", {"native", "none"}};
  PmixFacts host{"/usr/lib/libpmix.so.2", "4.2.2", {"munge", "native", "none"}};

  SUBCASE("pmi2 with Open MPI lacking s2") {
    MpiCheck check = checkStepMpi(ompi, StepMpi::kPmi2, host);
    REQUIRE(check.failure);
    CHECK(*check.failure ==
          "srun --mpi=pmi2: the image's Open MPI 4.1.4 has no Slurm PMI-2 support (it speaks "
          "PMIx): use --mpi=pmix");
  }
  SUBCASE("psec: the image lacks munge, the host's first: both speak native") {
    MpiCheck check = checkStepMpi(ompi, StepMpi::kPmix, host);
    CHECK_FALSE(check.failure);
    REQUIRE(check.env.size() == 1);
    CHECK(check.env[0] == std::pair<std::string, std::string>{"PMIX_MCA_psec", "native,none"});
  }
  SUBCASE("psec: nothing in common") {
    ompi.pmixLibrary.psec = {"dummy_handshake"};
    MpiCheck check = checkStepMpi(ompi, StepMpi::kPmix, host);
    REQUIRE(check.failure);
    CHECK(check.failure->find("security modules dummy_handshake and the host's PMIx 4.2.2 "
                              "offers munge,native,none: none in common") != std::string::npos);
  }
  SUBCASE("psec: the same modules: nothing to do") {
    ompi.pmixLibrary.psec = host.psec;
    MpiCheck check = checkStepMpi(ompi, StepMpi::kPmix, host);
    CHECK_FALSE(check.failure);
    CHECK(check.env.empty());
    CHECK(check.warnings.empty());
  }
  SUBCASE("PMIx versions: 3 with 4 warns, 2 with 4 fails") {
    ompi.pmixLibrary.psec = host.psec;
    ompi.pmixLibrary.version = "3.2.3";
    MpiCheck check = checkStepMpi(ompi, StepMpi::kPmix, host);
    CHECK_FALSE(check.failure);
    REQUIRE(check.warnings.size() == 1);
    CHECK(check.warnings[0].find("PMIx 3.2.3 differs from the host's PMIx 4.2.2") !=
          std::string::npos);
    ompi.pmixLibrary.version = "2.1.1";
    check = checkStepMpi(ompi, StepMpi::kPmix, host);
    REQUIRE(check.failure);
    CHECK(check.failure->find("the image's PMIx 2.1.1 cannot talk to the host's PMIx 4.2.2") !=
          std::string::npos);
  }
  SUBCASE("--mpi=none: no check") {
    ompi.pmix = false;
    CHECK_FALSE(checkStepMpi(ompi, StepMpi::kNone, host).failure);
  }
}

TEST_CASE("mpi check: host MPI against the image's ABI and glibc") {
  MpiFacts image;
  image.kind = MpiKind::kMpich;
  image.version = "3.3";
  image.soname = "libmpi.so.12";
  image.glibc = GlibcVersion{2, 31};
  HostLibrary mpich{"/usr/lib/x86_64-linux-gnu/libmpich.so.12.2.2", {}};
  mpich.elf.soname = "libmpich.so.12";
  mpich.elf.needVersions = {"GLIBC_2.2.5", "GLIBC_2.34", "GLIBC_PRIVATE"};
  HostLibrary ucx{"/usr/lib/x86_64-linux-gnu/libucp.so.0", {}};
  ucx.elf.soname = "libucp.so.0";
  ucx.elf.needVersions = {"GLIBC_2.14"};

  auto error = [&](const std::vector<HostLibrary>& host) {
    berth::Status status = checkHostMpi("site-mpich", host, image);
    return status.ok() ? std::string() : status.error().message();
  };
  CHECK(error({ucx, mpich}) ==
        "host MPI (inject set `site-mpich`) needs glibc >= 2.34 "
        "(/usr/lib/x86_64-linux-gnu/libmpich.so.12.2.2), the image has glibc 2.31: use an image "
        "with a newer glibc, or the image's own MPI");
  image.glibc = GlibcVersion{2, 36};
  CHECK(error({ucx, mpich}).empty());
  CHECK(error({ucx}).find("needs an MPICH-ABI library") != std::string::npos);
  image.kind = MpiKind::kOpenMpi;
  image.version = "4.1.4";
  image.soname = "libmpi.so.40";
  CHECK(error({mpich}) ==
        "host MPI (inject set `site-mpich`) is MPICH ABI (libmpich.so.12), the image's Open MPI "
        "4.1.4 is not (libmpi.so.40): use the image's own MPI (srun --mpi=pmix) or an image "
        "built with MPICH");
  image.kind = MpiKind::kNone;
  CHECK(error({mpich}).find("the image has no MPI library to replace") != std::string::npos);
  CHECK(mpichAbiNames("libmpich.so.12") ==
        std::vector<std::string>{"libmpi.so.12", "libmpich.so.12"});
  CHECK(mpichAbiNames("libmpifort.so.12") ==
        std::vector<std::string>{"libmpifort.so.12", "libmpichfort.so.12"});
  CHECK(mpichAbiNames("libmpi.so.40").empty());
}
