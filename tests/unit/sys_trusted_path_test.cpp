#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "shared/core/temp_dir.hpp"
#include "shared/sys/trusted_path.hpp"

using berth::sys::checkTrustedPath;
using berth::sys::TrustedOwners;
namespace fs = std::filesystem;

namespace {
std::string errorOf(const berth::Status& status) {
  REQUIRE_FALSE(status.ok());
  return status.error().message();
}
}  // namespace

// Ownership checks need files owned by root and by someone else: CI runs unit tests as root.
TEST_CASE("trusted path: owners and modes of every component" * doctest::skip(::geteuid() != 0)) {
  auto dir = berth::TempDir::create(fs::temp_directory_path(), "berth-trust");
  REQUIRE(dir.ok());
  const fs::path top = dir->path();
  REQUIRE(::chmod(top.c_str(), 0755) == 0);
  fs::create_directories(top / "site/cache");
  CHECK(checkTrustedPath("/").ok());
  CHECK(checkTrustedPath("/etc/passwd").ok());
  // Below the sticky, world-writable /tmp: its root-owned entries are safe from users.
  CHECK(checkTrustedPath(top / "site/cache").ok());
  CHECK(errorOf(checkTrustedPath(fs::temp_directory_path())).find("writable by every user") !=
        std::string::npos);  // the sticky directory itself is not a trusted target

  SUBCASE("an owner that is not root, unless trusted as the extra owner") {
    REQUIRE(::chown((top / "site").c_str(), 65534, 65534) == 0);
    CHECK(errorOf(checkTrustedPath(top / "site/cache")) ==
          fmt::format("`{}` is owned by uid 65534, not by root", (top / "site").string()));
    CHECK(checkTrustedPath(top / "site/cache", TrustedOwners{65534}).ok());
  }
  SUBCASE("a group-writable directory above") {
    REQUIRE(::chmod((top / "site").c_str(), 0775) == 0);
    CHECK(errorOf(checkTrustedPath(top / "site/cache")).find("(mode 0775)") != std::string::npos);
  }
  SUBCASE("a symlink is followed, and its target's directories are checked too") {
    fs::create_directories(top / "open");
    REQUIRE(::chmod((top / "open").c_str(), 0777) == 0);
    fs::create_directories(top / "open/cache");
    fs::create_directory_symlink(top / "open/cache", top / "site/link");
    CHECK(errorOf(checkTrustedPath(top / "site/link"))
              .find(fmt::format("`{}` is writable by every user", (top / "open").string())) !=
          std::string::npos);
    fs::create_directory_symlink("cache", top / "site/relative");
    CHECK(checkTrustedPath(top / "site/relative").ok());
  }
  SUBCASE("a symlink that a user owns, in a sticky directory") {
    fs::create_directories(top / "sticky");
    REQUIRE(::chmod((top / "sticky").c_str(), 01777) == 0);
    fs::create_directory_symlink(top / "site/cache", top / "sticky/link");
    REQUIRE(::lchown((top / "sticky/link").c_str(), 65534, 65534) == 0);
    CHECK(errorOf(checkTrustedPath(top / "sticky/link")).find("is owned by uid 65534") !=
          std::string::npos);
  }
  SUBCASE("a missing path") {
    CHECK(errorOf(checkTrustedPath(top / "absent")).find("No such file or directory") !=
          std::string::npos);
  }
}
