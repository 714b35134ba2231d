#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "shared/container/mount_point.hpp"
#include "shared/core/temp_dir.hpp"

using namespace berth;
namespace fs = std::filesystem;

namespace {

// An image root in a temporary directory, with the links systemd-based images ship.
struct ImageRoot {
  TempDir dir;
  UniqueFd fd;

  ImageRoot() : dir(std::move(TempDir::create(fs::temp_directory_path(), "mount-point")).value()) {
    const fs::path& root = dir.path();
    fs::create_directories(root / "etc");
    fs::create_directories(root / "run");
    fs::create_directories(root / "usr/share/base");
    std::ofstream(root / "etc/hosts.real") << "image hosts\n";
    std::ofstream(root / "usr/share/base/group") << "root:x:0:\n";
    fs::create_symlink("../run/systemd/resolve/stub-resolv.conf", root / "etc/resolv.conf");
    fs::create_symlink("/etc/hosts.real", root / "etc/hosts");
    fs::create_symlink("usr/share/base", root / "base");
    fs::create_symlink("../base/group", root / "etc/group");
    fs::create_symlink("../../../../outside", root / "etc/passwd");
    fs::create_symlink("loop-b", root / "etc/loop-a");
    fs::create_symlink("loop-a", root / "etc/loop-b");
    fd = UniqueFd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
};

}  // namespace

TEST_CASE("resolveInImage: symlinks are followed inside the image only") {
  ImageRoot image;
  REQUIRE(image.fd);
  auto resolve = [&](const std::string& path) {
    return container::resolveInImage(image.fd.get(), path);
  };

  auto plain = resolve("/etc/shadow");
  REQUIRE(plain.ok());
  CHECK(plain->path == "/etc/shadow");
  CHECK(plain->link.empty());

  // systemd's resolv.conf: relative, dangling, its directories missing.
  auto resolv = resolve("/etc/resolv.conf");
  REQUIRE(resolv.ok());
  CHECK(resolv->path == "/run/systemd/resolve/stub-resolv.conf");
  CHECK(resolv->link == "/etc/resolv.conf");
  CHECK(resolv->linkText == "../run/systemd/resolve/stub-resolv.conf");

  // Absolute: from the image's root, not the host's.
  auto hosts = resolve("/etc/hosts");
  REQUIRE(hosts.ok());
  CHECK(hosts->path == "/etc/hosts.real");

  // Through a directory link.
  auto group = resolve("/etc/group");
  REQUIRE(group.ok());
  CHECK(group->path == "/usr/share/base/group");
  auto viaDir = resolve("/base/group");
  REQUIRE(viaDir.ok());
  CHECK(viaDir->path == "/usr/share/base/group");
  CHECK(viaDir->link == "/base");

  auto leaving = resolve("/etc/passwd");
  REQUIRE_FALSE(leaving.ok());
  CHECK(leaving.error().message() ==
        "`/etc/passwd` is a symlink to `../../../../outside`, which leads out of the image: a "
        "mount cannot follow it");

  auto loop = resolve("/etc/loop-a");
  REQUIRE_FALSE(loop.ok());
  CHECK(loop.error().message() == "`/etc/loop-a`: too many levels of symbolic links in the image");

  auto notDir = resolve("/etc/hosts.real/x");
  REQUIRE_FALSE(notDir.ok());
  CHECK(notDir.error().message() == "`/etc/hosts.real` in the image: Not a directory");
}
