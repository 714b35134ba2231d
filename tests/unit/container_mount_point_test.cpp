#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
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

namespace {

berth::container::MountOp userBind(const std::string& target) {
  berth::container::MountOp op;
  op.source = "/data";
  op.target = target;
  op.checkAsUser = true;
  op.missing = berth::container::MissingTarget::kCreateForUser;
  op.origin = "bind /data:" + target;
  return op;
}

dev_t deviceOf(const fs::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_dev;
}

}  // namespace

TEST_CASE("mountPoint: a user's missing destination is made in the container's layer") {
  using namespace berth::container;
  ImageRoot image;
  REQUIRE(image.fd);
  MountPlan plan;  // read-only: plan.writable is false
  CreatableDevices layer{deviceOf(image.dir.path())};
  auto point = mountPoint(image.fd.get(), layer, userBind("/does/not/exist"),
                          sys::NodeKind::kDirectory, plan);
  REQUIRE_MESSAGE(point.ok(), point.error().message());
  CHECK(point->fd);
  CHECK(fs::is_directory(image.dir.path() / "does/not/exist"));
  // A file destination is made as a file.
  point = mountPoint(image.fd.get(), layer, userBind("/etc/new.conf"), sys::NodeKind::kFile, plan);
  REQUIRE(point.ok());
  CHECK(fs::is_regular_file(image.dir.path() / "etc/new.conf"));
  // An existing one is used as it is.
  point = mountPoint(image.fd.get(), layer, userBind("/etc"), sys::NodeKind::kDirectory, plan);
  REQUIRE(point.ok());
  CHECK(point->path == "/etc");
}

TEST_CASE("mountPoint: never made outside the container's layer or through a link out") {
  using namespace berth::container;
  ImageRoot image;
  REQUIRE(image.fd);
  MountPlan plan;
  // The root's file system is not one the plan may write to (a host directory bound there).
  auto refused =
      mountPoint(image.fd.get(), {}, userBind("/run/new"), sys::NodeKind::kDirectory, plan);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message() ==
        "bind /data:/run/new: destination `/run/new` does not exist, and `/run` is not part of "
        "the image");
  CHECK_FALSE(fs::exists(image.dir.path() / "run/new"));
  // Through a symlink that climbs out of the image.
  CreatableDevices layer{deviceOf(image.dir.path())};
  refused =
      mountPoint(image.fd.get(), layer, userBind("/etc/passwd/x"), sys::NodeKind::kDirectory, plan);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message().find("leading out of the image") != std::string::npos);
  CHECK_FALSE(fs::exists(image.dir.path().parent_path() / "outside"));
}

TEST_CASE("plan: the working directory asked for is an op made when missing, after the binds") {
  using namespace berth::container;
  PlanInputs in;
  in.image = {ImageKind::kSquashfs, "/images/x.sqsh"};
  in.user.uid = 1001;
  in.user.home = "/home/alice";
  in.options.binds = {{"/data", "/mnt/data", false}};
  in.options.workdir = "/work/dir";
  in.names.workdir = "--container-workdir";
  auto plan = buildMountPlan(in);
  REQUIRE(plan.ok());
  REQUIRE_FALSE(plan->ops.empty());
  const MountOp& last = plan->ops.back();
  CHECK(last.kind == MountOpKind::kDirectory);
  CHECK(last.target == "/work/dir");
  CHECK(last.missing == MissingTarget::kCreateForUser);
  CHECK(last.origin == "--container-workdir /work/dir");
  in.options.workdir = "";
  plan = buildMountPlan(in);
  REQUIRE(plan.ok());
  CHECK(plan->ops.back().kind != MountOpKind::kDirectory);
}
