// Mount specs, environment rules, entrypoint/cmd, passwd/group, working directory, platform.
#include <set>

#include <doctest/doctest.h>

#include "shared/container/entrypoint.hpp"
#include "shared/container/mount_spec.hpp"
#include "shared/container/passwd.hpp"

using namespace berth;
using namespace berth::container;

TEST_CASE("mount spec: SRC, SRC:DST, SRC:DST:ro|rw") {
  auto a = parseMountSpec("/data");
  REQUIRE(a.ok());
  CHECK(*a == MountSpec{"/data", "/data", false});
  auto b = parseMountSpec("/data:/mnt/d");
  REQUIRE(b.ok());
  CHECK(*b == MountSpec{"/data", "/mnt/d", false});
  auto c = parseMountSpec("/data:/mnt/d:ro");
  REQUIRE(c.ok());
  CHECK(c->readOnly);
  auto d = parseMountSpec("/data:/mnt/d:rw");
  REQUIRE(d.ok());
  CHECK_FALSE(d->readOnly);
  auto e = parseMountSpec("rel/dir");  // relative sources are resolved later against the cwd
  REQUIRE(e.ok());
  CHECK(e->source == "rel/dir");
}

TEST_CASE("mount spec: bad input gives one clear error") {
  auto check = [](const char* text, const char* fragment) {
    auto r = parseMountSpec(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().find(fragment) != std::string::npos);
    CHECK(r.error().message().find('\n') == std::string::npos);
  };
  check("", "empty source");
  check(":/x", "empty source");
  check("/a:/b:rx", "unknown option `rx`");
  check("/a:/b:ro:extra", "expected SRC[:DST[:ro|rw]]");
  check("/a:b", "absolute");
  check("/a:/b/../etc", "`..`");
  check("/a:/", "root");
  check("/a:ro", "destination missing");
  check("rel:dst", "absolute");
}

TEST_CASE("mount spec lists and relative sources") {
  auto list = parseMountSpecList("/a,/b:/c:ro, /d:/e");
  REQUIRE(list.ok());
  REQUIRE(list->size() == 3);
  CHECK((*list)[1] == MountSpec{"/b", "/c", true});
  CHECK((*list)[2].source == "/d");
  CHECK_FALSE(parseMountSpecList("/a,,/b").ok());
  CHECK_FALSE(parseMountSpecList("").ok());
  std::vector<MountSpec> rel{{"data", "data", false}, {"x", "/y", true}};
  auto resolved = resolveSources(rel, "/home/u");
  CHECK(resolved[0] == MountSpec{"/home/u/data", "/home/u/data", false});
  CHECK(resolved[1] == MountSpec{"/home/u/x", "/y", true});
}

TEST_CASE("entrypoint/cmd: Docker semantics for run") {
  image::ImageConfig config;
  config.entrypoint = {"/entry", "--flag"};
  config.cmd = {"default"};
  using V = std::vector<std::string>;
  auto run = [&](V args, std::optional<std::string> entrypoint = std::nullopt) {
    CommandRequest request{LaunchMode::kRun, std::move(args), std::move(entrypoint)};
    return containerCommand(config, request);
  };
  CHECK(*run({}) == V{"/entry", "--flag", "default"});
  CHECK(*run({"a", "b"}) == V{"/entry", "--flag", "a", "b"});
  CHECK(*run({}, std::string("/bin/sh")) == V{"/bin/sh"});  // --entrypoint resets CMD
  CHECK(*run({"-c", "x"}, std::string("/bin/sh")) == V{"/bin/sh", "-c", "x"});
  CHECK(*run({"ls"}, std::string("")) == V{"ls"});  // --entrypoint "" clears it
  config.entrypoint.clear();
  CHECK(*run({}) == V{"default"});
  CHECK(*run({"other"}) == V{"other"});
  config.cmd.clear();
  auto none = run({});
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message().find("no entrypoint or command") != std::string::npos);
}

TEST_CASE("entrypoint/cmd: exec and shell") {
  image::ImageConfig config;
  config.entrypoint = {"/entry"};
  using V = std::vector<std::string>;
  CHECK(*containerCommand(config, {LaunchMode::kExec, {"cat", "/x"}, {}}) == V{"cat", "/x"});
  CHECK_FALSE(containerCommand(config, {LaunchMode::kExec, {}, {}}).ok());
  CommandRequest shell{LaunchMode::kShell, {"-c", "id"}, {}, "/bin/bash"};
  CHECK(*containerCommand(config, shell) == V{"/bin/bash", "-c", "id"});
}

TEST_CASE("working directory and platform") {
  image::ImageConfig config;

  CHECK(checkPlatform(config, "linux/amd64").ok());  // no architecture recorded
  config.architecture = "amd64";
  config.os = "linux";
  CHECK(checkPlatform(config, "linux/amd64").ok());
  config.architecture = "arm64";
  config.variant = "v8";
  auto other = checkPlatform(config, "linux/amd64");
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().message() ==
        "the image is for linux/arm64/v8, this host is linux/amd64: it cannot run here");
  CHECK(checkPlatform(config, "linux/arm64/v8").ok());
  CHECK(checkPlatform(config, "linux/arm64").ok());
}

TEST_CASE("passwd and group: the user's entries added to the image's files") {
  sys::Identity user;
  user.uid = 1001;
  user.gid = 1001;
  user.name = "alice";
  user.gecos = "Alice: A";
  user.home = "/home/alice";
  user.shell = "/bin/zsh";
  user.groupName = "alice";
  std::string imagePasswd =
      "root:x:0:0:root:/root:/bin/sh\nalice:x:5:5::/:/bin/false\n"
      "other:x:1001:1001::/:/bin/sh\nbin:x:2:2::/:/bin/sh";
  std::string passwd = mergePasswd(imagePasswd, user, false);
  CHECK(passwd ==
        "root:x:0:0:root:/root:/bin/sh\nbin:x:2:2::/:/bin/sh\n"
        "alice:x:1001:1001:Alice  A:/home/alice:/bin/sh\n");
  CHECK(mergePasswd("", user, true) == "alice:x:1001:1001:Alice  A:/home/alice:/bin/zsh\n");

  CHECK(mergeGroup("root:x:0:\n", user) == "root:x:0:\nalice:x:1001:alice\n");
  CHECK(mergeGroup("root:x:0:\nstaff:x:1001:\n", user) == "root:x:0:\nstaff:x:1001:\n");
}
