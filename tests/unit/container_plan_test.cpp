// The mount plan (pure), image location, and reading /.berth files from images without root.
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include "shared/container/image_inspect.hpp"
#include "shared/container/mount_plan.hpp"
#include "shared/convert/image_files.hpp"
#include "shared/core/temp_dir.hpp"

using namespace berth;
using namespace berth::container;
using namespace berth::convert;
namespace fs = std::filesystem;

namespace {

PlanInputs baseInputs() {
  PlanInputs in;
  in.image = {ImageKind::kSquashfs, "/images/x.sqsh"};
  in.user.uid = 1001;
  in.user.gid = 1001;
  in.user.name = "alice";
  in.user.home = "/home/alice";
  in.hostCwd = "/home/alice/project";
  return in;
}

const MountOp* findTarget(const MountPlan& plan, std::string_view target) {
  for (const auto& op : plan.ops)
    if (op.target == target)
      return &op;
  return nullptr;
}

std::vector<std::string> targets(const MountPlan& plan) {
  std::vector<std::string> out;
  for (const auto& op : plan.ops)
    out.push_back(op.target);
  return out;
}

}  // namespace

TEST_CASE("plan: default system mounts, home, host tmp, read-only root") {
  auto plan = buildMountPlan(baseInputs());
  REQUIRE(plan.ok());
  CHECK_FALSE(plan->writable);
  CHECK(plan->overlaySize == "1g");
  CHECK(plan->stagingDir == "/run/berth");
  std::vector<std::string> expected{"/proc",
                                    "/sys",
                                    "/dev",
                                    "/tmp",
                                    "/var/tmp",
                                    "/etc/hosts",
                                    "/etc/resolv.conf",
                                    "/etc/localtime",
                                    "/etc/passwd",
                                    "/etc/group",
                                    "/home/alice"};
  CHECK(targets(*plan) == expected);
  CHECK(findTarget(*plan, "/sys")->readOnly);
  CHECK(findTarget(*plan, "/dev")->allowDevices);
  CHECK_FALSE(findTarget(*plan, "/proc")->allowDevices);
  CHECK(findTarget(*plan, "/etc/hosts")->optional);
  CHECK(findTarget(*plan, "/etc/hosts")->readOnly);
  CHECK(findTarget(*plan, "/etc/passwd")->kind == MountOpKind::kPasswd);
  CHECK(findTarget(*plan, "/etc/group")->kind == MountOpKind::kGroup);
  const MountOp* home = findTarget(*plan, "/home/alice");
  CHECK(home->checkAsUser);
  CHECK(home->source == "/home/alice");
  CHECK_FALSE(findTarget(*plan, "/tmp")->checkAsUser);
  // The cwd is under the bound home: the command starts there.
  REQUIRE(plan->hostCwdInside);
  CHECK(*plan->hostCwdInside == "/home/alice/project");
}

TEST_CASE("plan: --contain, --no-home, writable, user and site binds") {
  auto in = baseInputs();
  in.options.contain = true;
  in.options.noHome = true;
  in.options.writable = true;
  in.options.overlaySize = "2g";
  in.hostCwd = "/srv/elsewhere";
  in.config.defaultBinds = {{"/scratch", "/scratch", false}};
  in.options.binds = {{"/data", "/mnt/data", true}, {"/srv", "/srv", false}};
  auto plan = buildMountPlan(in);
  REQUIRE(plan.ok());
  CHECK(plan->writable);
  CHECK(plan->overlaySize == "2g");
  CHECK(findTarget(*plan, "/home/alice") == nullptr);
  CHECK(findTarget(*plan, "/tmp")->kind == MountOpKind::kTmpfs);
  CHECK(findTarget(*plan, "/var/tmp")->kind == MountOpKind::kTmpfs);
  CHECK(findTarget(*plan, "/dev")->kind == MountOpKind::kTmpfs);
  CHECK(findTarget(*plan, "/dev/null")->allowDevices);
  CHECK(findTarget(*plan, "/dev/pts")->allowDevices);
  CHECK(findTarget(*plan, "/dev/ptmx")->kind == MountOpKind::kSymlink);
  CHECK(findTarget(*plan, "/dev/shm")->kind == MountOpKind::kTmpfs);
  // Site binds come before user binds, both checked as the user. Missing mount points are made
  // in the container's own layer; a user's that cannot be made is an error.
  auto all = targets(*plan);
  auto scratch = std::find(all.begin(), all.end(), "/scratch");
  auto data = std::find(all.begin(), all.end(), "/mnt/data");
  REQUIRE(scratch != all.end());
  REQUIRE(data != all.end());
  CHECK(scratch < data);
  const MountOp* dataOp = findTarget(*plan, "/mnt/data");
  CHECK(dataOp->readOnly);
  CHECK(dataOp->checkAsUser);
  CHECK(dataOp->missing == MissingTarget::kCreateForUser);
  CHECK(dataOp->origin == "bind /data:/mnt/data:ro");  // the item, named by no face
  const MountOp* scratchOp = findTarget(*plan, "/scratch");
  CHECK(scratchOp->checkAsUser);
  CHECK(scratchOp->missing == MissingTarget::kCreate);
  REQUIRE(plan->hostCwdInside);
  CHECK(*plan->hostCwdInside == "/srv/elsewhere");
}

TEST_CASE("plan: messages name the user's choices in the face's words") {
  auto in = baseInputs();
  in.options.binds = {{"/data", "/mnt/data", false}};
  in.names.bind = "--container-mounts";
  auto plan = buildMountPlan(in);
  REQUIRE(plan.ok());
  CHECK(findTarget(*plan, "/mnt/data")->origin == "--container-mounts /data:/mnt/data");
  CHECK(plan->names.bind == "--container-mounts");
}

TEST_CASE("plan: unprivileged, root user, refusals") {
  auto in = baseInputs();
  in.unprivileged = true;
  in.hostCwd = "/opt/x";
  auto plan = buildMountPlan(in);
  REQUIRE(plan.ok());
  CHECK(plan->unprivileged);
  CHECK_FALSE(plan->hostCwdInside);
  in.config.allowUnprivileged = false;
  auto refused = buildMountPlan(in);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message().find("berth.conf allow_unprivileged") != std::string::npos);

  auto root = baseInputs();
  root.user.uid = 0;
  root.user.home = "/root";
  CHECK(findTarget(*buildMountPlan(root), "/root") == nullptr);  // root's home is not bound
}

TEST_CASE("plan: where a host path appears inside") {
  std::vector<MountOp> ops(3);
  ops[0].source = "/";
  ops[0].target = "/host";
  ops[1].source = "/data";
  ops[1].target = "/mnt";
  ops[2].source = "/data/sub";
  ops[2].target = "/s";
  CHECK(*containerPathOf("/data/sub/x", ops) == "/s/x");
  CHECK(*containerPathOf("/data/x", ops) == "/mnt/x");
  CHECK(*containerPathOf("/data", ops) == "/mnt");
  CHECK(*containerPathOf("/datax", ops) == "/host/datax");
  ops.erase(ops.begin());
  CHECK_FALSE(containerPathOf("/datax", ops));
}

TEST_CASE("image location: files, directories, references") {
  auto dir = TempDir::create(fs::temp_directory_path(), "berth-test");
  REQUIRE(dir.ok());
  fs::path sqsh = dir->path() / "img.sqsh";
  std::ofstream(sqsh) << "hsqs and more";
  fs::path junk = dir->path() / "junk.sqsh";
  std::ofstream(junk) << "not squashfs";
  auto file = locateImage(sqsh.string(), false, {});
  REQUIRE(file.ok());
  CHECK(file->kind == ImageKind::kSquashfs);
  auto sandbox = locateImage(dir->path().string(), true, {});
  REQUIRE(sandbox.ok());
  CHECK(sandbox->kind == ImageKind::kDirectory);
  CHECK(locateImage(junk.string(), false, {}).error().message().find("not a squashfs image") !=
        std::string::npos);
  CHECK(locateImage(sqsh.string(), true, {}).error().message().find("not a directory") !=
        std::string::npos);
  CHECK(locateImage("/no/such.sqsh", false, {}).error().message().find("no such file") !=
        std::string::npos);
  auto noCache = locateImage("docker://ubuntu:22.04", false, {});
  REQUIRE_FALSE(noCache.ok());
  CHECK(noCache.error().message().find("image cache not available") != std::string::npos);
  std::string asked;
  auto cached = locateImage("ubuntu:22.04", false, [&](std::string_view ref) -> Result<fs::path> {
    asked = ref;
    return sqsh;
  });
  REQUIRE(cached.ok());
  CHECK(asked == "ubuntu:22.04");
  CHECK(cached->path == sqsh);
}

TEST_CASE("image files: a sandbox directory's /.berth, links not followed") {
  auto dir = TempDir::create(fs::temp_directory_path(), "berth-test");
  REQUIRE(dir.ok());
  fs::create_directories(dir->path() / ".berth");
  std::ofstream(dir->path() / ".berth/config.json")
      << R"({"architecture":"amd64","os":"linux","config":{"Cmd":["sh"],"Env":["A=1"]}})";
  fs::create_symlink("/etc/passwd", dir->path() / ".berth/help");
  ImageLocation image{ImageKind::kDirectory, dir->path()};
  auto config = readImageFile(image, ".berth/config.json");
  REQUIRE(config.ok());
  REQUIRE(config->has_value());
  CHECK((*config)->find("\"Cmd\"") != std::string::npos);
  auto missing = readImageFile(image, ".berth/runscript");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());
  auto link = readImageFile(image, ".berth/help");
  REQUIRE_FALSE(link.ok());
  CHECK(link.error().message().find("not a regular file") != std::string::npos);
  fs::remove(dir->path() / ".berth/help");
  auto report = inspectImage(image);
  REQUIRE(report.ok());
  CHECK(report->config.cmd == std::vector<std::string>{"sh"});
  CHECK(inspectJson(*report).find("\"platform\": \"linux/amd64\"") != std::string::npos);
  CHECK(inspectText(*report).find("Cmd:        [\"sh\"]") != std::string::npos);
}

TEST_CASE("image files: read from a squashfs file with libsquashfs, no mount") {
  if (std::system("command -v mksquashfs >/dev/null 2>&1") != 0)
    return;  // squashfs-tools is a build dependency; without it there is nothing to read
  auto dir = TempDir::create(fs::temp_directory_path(), "berth-test");
  REQUIRE(dir.ok());
  fs::path root = dir->path() / "root";
  fs::create_directories(root / ".berth");
  std::string big(300000, 'x');  // spans several data blocks
  std::ofstream(root / ".berth/help") << big;
  std::ofstream(root / ".berth/config.json")
      << R"({"architecture":"amd64","config":{"Cmd":["a"]}})";
  fs::create_symlink("config.json", root / ".berth/other");  // not read by inspect
  fs::path image = dir->path() / "img.sqsh";
  std::string command = "mksquashfs '" + root.string() + "' '" + image.string() +
                        "' -comp zstd -noappend -quiet >/dev/null 2>&1";
  REQUIRE(std::system(command.c_str()) == 0);
  ImageLocation location{ImageKind::kSquashfs, image};
  auto help = readImageFile(location, ".berth/help");
  REQUIRE(help.ok());
  REQUIRE(help->has_value());
  CHECK(**help == big);
  auto missing = readImageFile(location, ".berth/definition");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());
  auto link = readImageFile(location, ".berth/other");
  REQUIRE_FALSE(link.ok());
  CHECK(link.error().message().find("not a regular file") != std::string::npos);
  auto tooBig = readImageFile(location, ".berth/help", 1000);
  REQUIRE_FALSE(tooBig.ok());
  auto report = inspectImage(location);
  REQUIRE(report.ok());
  CHECK(report->sizeBytes == fs::file_size(image));
  CHECK(report->config.cmd == std::vector<std::string>{"a"});

  fs::path corrupt = dir->path() / "corrupt.sqsh";
  std::ofstream(corrupt) << "hsqs" << std::string(200, '\0');
  auto bad = readImageFile({ImageKind::kSquashfs, corrupt}, ".berth/config.json");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message().find("corrupt or not a squashfs image") != std::string::npos);
}
