#include <doctest/doctest.h>

#include <unistd.h>

#include "shared/convert/archive_library.hpp"
#include "shared/gpu/hwloc_library.hpp"
#include "shared/image/crypto_library.hpp"
#include "shared/sys/shared_library.hpp"

using berth::sys::SharedLibrary;

TEST_CASE("SharedLibrary: a missing library or symbol is one clear error") {
  auto missing = SharedLibrary::open("libberth-no-such-library.so.7");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message().starts_with("cannot load libberth-no-such-library.so.7: "));

  auto libc = SharedLibrary::open("libc.so.6");
  REQUIRE(libc.ok());
  pid_t (*getPid)() = nullptr;
  REQUIRE(libc->resolve("getpid", getPid).ok());
  CHECK(getPid() == ::getpid());
  int (*none)() = nullptr;
  auto lacks = libc->resolve("berth_no_such_symbol", none);
  REQUIRE_FALSE(lacks.ok());
  CHECK(lacks.error().message() == "libc.so.6 lacks `berth_no_such_symbol`");
}

TEST_CASE("libraries opened on first use: loaded once, every entry point resolved") {
  auto crypto = berth::image::cryptoLibrary();
  REQUIRE(crypto.ok());
  CHECK(*crypto == *berth::image::cryptoLibrary());
  CHECK(bool((*crypto)->digestFinal));
  CHECK((*crypto)->sha256() != nullptr);

  auto archive = berth::convert::archiveLibrary();
  REQUIRE(archive.ok());
  CHECK(*archive == *berth::convert::archiveLibrary());
  CHECK(bool((*archive)->entryXattrNext));

  auto hwloc = berth::gpu::hwlocLibrary();
  REQUIRE(hwloc.ok());
  CHECK(*hwloc == *berth::gpu::hwlocLibrary());
  CHECK(bool((*hwloc)->bitmapListAsprintf));
}
