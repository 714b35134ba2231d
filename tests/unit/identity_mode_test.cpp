// Identity modes (root inside without root outside): /etc/subuid parsing, the choice of mode and
// its maps, who writes them, and what the mount plan does with them. Pure: no namespace made.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <fstream>

#include "shared/container/identity_mode.hpp"
#include "shared/container/mount_plan.hpp"
#include "shared/container/scaffold.hpp"
#include "shared/core/temp_dir.hpp"
#include "shared/core/unique_fd.hpp"
#include "shared/sys/subordinate_ids.hpp"
#include "shared/sys/user_namespace.hpp"

using namespace berth;
using namespace berth::container;
using berth::sys::IdRange;
using berth::sys::SubordinateRange;

namespace {

sys::Identity alice() {
  sys::Identity user;
  user.uid = 1001;
  user.gid = 1002;
  user.name = "alice";
  user.home = "/home/alice";
  return user;
}

RootHostFacts factsFor(const sys::Identity& user, std::vector<SubordinateRange> subuids,
                       std::vector<SubordinateRange> subgids, bool writerIsRoot = false,
                       bool helpers = true) {
  RootHostFacts facts;
  facts.user = user;
  facts.subuids = std::move(subuids);
  facts.subgids = std::move(subgids);
  facts.writerIsRoot = writerIsRoot;
  facts.mapHelpersInstalled = helpers;
  return facts;
}

std::string errorOf(const Result<RootMapping>& result) {
  return result.ok() ? std::string() : result.error().message();
}

}  // namespace

TEST_CASE("subordinate ids: by name or uid, in file order -- what shadow skips is skipped") {
  std::string text =
      "# site ranges\n"
      "alice:100000:65536\n"
      "bob:165536:65536\n"
      "  1001:300000:1000  \n"   // the uid works as well as the name
      "alice:400000\n"           // two fields
      "alice:x:10\n"             // not a number
      "alice:500000:0\n"         // empty range
      "alice:4294967000:1000\n"  // past 2^32
      "alice:-1:10\n"
      "\n"
      "alicex:600000:10\n";
  auto ranges = sys::parseSubordinateIds(text, "alice", 1001);
  REQUIRE(ranges.size() == 2);
  CHECK(ranges[0] == SubordinateRange{100000, 65536});
  CHECK(ranges[1] == SubordinateRange{300000, 1000});
  CHECK(sys::parseSubordinateIds(text, "bob", 1002) ==
        std::vector{SubordinateRange{165536, 65536}});
  CHECK(sys::parseSubordinateIds(text, "carol", 1003).empty());
  CHECK(sys::parseSubordinateIds("", "alice", 1001).empty());
  CHECK(sys::parseSubordinateIds("alice:1:2:3\nalice::\n:::\n", "alice", 1001).empty());
}

TEST_CASE("subordinate ids: a missing file gives none, a directory is an error") {
  auto dir = TempDir::create(std::filesystem::temp_directory_path(), "berth-subid");
  REQUIRE(dir.ok());
  auto missing = sys::readSubordinateIds(dir->path() / "subuid", "alice", 1001);
  REQUIRE(missing.ok());
  CHECK(missing->empty());
  CHECK_FALSE(sys::readSubordinateIds(dir->path(), "alice", 1001).ok());
  std::ofstream(dir->path() / "subuid") << "alice:200000:65536\n";
  auto read = sys::readSubordinateIds(dir->path() / "subuid", "alice", 1001);
  REQUIRE(read.ok());
  CHECK(*read == std::vector{SubordinateRange{200000, 65536}});
}

TEST_CASE("identity modes: --userns values") {
  CHECK(*parseUsernsChoice("auto") == UsernsChoice::kAuto);
  CHECK(*parseUsernsChoice("subuid") == UsernsChoice::kSubuid);
  CHECK(*parseUsernsChoice("single") == UsernsChoice::kSingle);
  auto bad = parseUsernsChoice("fake");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message() == "user namespace mode `fake`: expected auto, subuid or single");
  for (auto choice : {UsernsChoice::kAuto, UsernsChoice::kSubuid, UsernsChoice::kSingle})
    CHECK(*parseUsernsChoice(usernsChoiceName(choice)) == choice);
}

TEST_CASE("identity modes: root is root, whatever is asked") {
  sys::Identity root;
  root.name = "root";
  for (auto choice : {UsernsChoice::kAuto, UsernsChoice::kSubuid, UsernsChoice::kSingle}) {
    auto mapping = chooseRootMapping(choice, factsFor(root, {}, {}));
    REQUIRE(mapping.ok());
    CHECK(mapping->mode == RootMode::kIdentity);
    CHECK(mapping->maps.uids.empty());
  }
}

TEST_CASE("identity modes: subuid maps root to the user and 1..65536 to the range") {
  auto facts = factsFor(alice(), {{100000, 65536}}, {{200000, 100000}});
  for (auto choice : {UsernsChoice::kAuto, UsernsChoice::kSubuid}) {
    auto mapping = chooseRootMapping(choice, facts);
    REQUIRE(mapping.ok());
    CHECK(mapping->mode == RootMode::kSubuid);
    CHECK(mapping->maps.uids == std::vector<IdRange>{{0, 1001, 1}, {1, 100000, 65536}});
    // A larger range maps 65536 ids, as the other engines do.
    CHECK(mapping->maps.gids == std::vector<IdRange>{{0, 1002, 1}, {1, 200000, 65536}});
    CHECK_FALSE(mapping->maps.denySetgroups);
  }
  // A smaller range maps what there is: ids beyond it are unmapped (chown to them fails).
  auto small =
      chooseRootMapping(UsernsChoice::kAuto, factsFor(alice(), {{100000, 1000}}, {{200000, 1000}}));
  REQUIRE(small.ok());
  CHECK(small->maps.uids.back() == IdRange{1, 100000, 1000});
  // A range holding the user's own id (or root's) is skipped for the next one.
  auto skipped = chooseRootMapping(
      UsernsChoice::kAuto,
      factsFor(alice(), {{1000, 10}, {0, 5}, {300000, 65536}}, {{200000, 65536}}));
  REQUIRE(skipped.ok());
  CHECK(skipped->maps.uids.back() == IdRange{1, 300000, 65536});
}

TEST_CASE("identity modes: single maps one id and denies setgroups -- auto falls back to it") {
  auto expectSingle = [](const Result<RootMapping>& mapping) {
    REQUIRE(mapping.ok());
    CHECK(mapping->mode == RootMode::kSingle);
    CHECK(mapping->maps.uids == std::vector<IdRange>{{0, 1001, 1}});
    CHECK(mapping->maps.gids == std::vector<IdRange>{{0, 1002, 1}});
    CHECK(mapping->maps.denySetgroups);
  };
  auto ranges = factsFor(alice(), {{100000, 65536}}, {{200000, 65536}});
  expectSingle(chooseRootMapping(UsernsChoice::kSingle, ranges));
  expectSingle(chooseRootMapping(UsernsChoice::kAuto, factsFor(alice(), {}, {})));
  // Only uids, or only gids: not enough.
  expectSingle(chooseRootMapping(UsernsChoice::kAuto, factsFor(alice(), {{100000, 65536}}, {})));
  // Without newuidmap/newgidmap an unprivileged caller cannot write a subuid map; root can.
  expectSingle(chooseRootMapping(
      UsernsChoice::kAuto, factsFor(alice(), {{100000, 65536}}, {{200000, 65536}}, false, false)));
  auto byRoot = chooseRootMapping(
      UsernsChoice::kAuto, factsFor(alice(), {{100000, 65536}}, {{200000, 65536}}, true, false));
  REQUIRE(byRoot.ok());
  CHECK(byRoot->mode == RootMode::kSubuid);
}

TEST_CASE("identity modes: an explicit subuid choice says what is missing") {
  CHECK(errorOf(chooseRootMapping(UsernsChoice::kSubuid, factsFor(alice(), {}, {{1, 2}}))) ==
        "user namespace mode subuid: user `alice` has no subordinate uids (/etc/subuid)");
  CHECK(
      errorOf(chooseRootMapping(UsernsChoice::kSubuid, factsFor(alice(), {{100000, 65536}}, {}))) ==
      "user namespace mode subuid: user `alice` has no subordinate gids (/etc/subgid)");
  CHECK(errorOf(chooseRootMapping(
            UsernsChoice::kSubuid,
            factsFor(alice(), {{100000, 65536}}, {{200000, 65536}}, false, false))) ==
        "user namespace mode subuid: newuidmap and newgidmap are not installed (package uidmap)");
}

TEST_CASE("identity modes: the facts come from the subuid and subgid files, by user name") {
  auto dir = TempDir::create(std::filesystem::temp_directory_path(), "berth-subid");
  REQUIRE(dir.ok());
  std::ofstream(dir->path() / "subuid") << "alice:100000:65536\n";
  std::ofstream(dir->path() / "subgid") << "1001:200000:65536\n";
  auto facts = readRootHostFacts(alice(), true, dir->path() / "subuid", dir->path() / "subgid");
  REQUIRE(facts.ok());
  CHECK(facts->subuids == std::vector{SubordinateRange{100000, 65536}});
  CHECK(facts->subgids == std::vector{SubordinateRange{200000, 65536}});
  CHECK(facts->mapHelpersInstalled);  // root writes the maps itself
}

TEST_CASE("id maps: their text, and who may write them") {
  sys::IdMaps single{.uids = {{0, 1001, 1}}, .gids = {{0, 1002, 1}}, .denySetgroups = true};
  CHECK(sys::idMapText(single.uids) == "0 1001 1\n");
  sys::IdMaps subuid{.uids = {{0, 1001, 1}, {1, 100000, 65536}},
                     .gids = {{0, 1002, 1}, {1, 200000, 65536}},
                     .denySetgroups = false};
  CHECK(sys::idMapText(subuid.uids) == "0 1001 1\n1 100000 65536\n");
  // The kernel lets a process map its own ids alone (setgroups denied); more needs privilege.
  CHECK(sys::mapWriterFor(single, 1001, 1002) == sys::MapWriter::kDirect);
  CHECK(sys::mapWriterFor(single, 1005, 1002) == sys::MapWriter::kSetuidHelpers);
  sys::IdMaps allowed = single;
  allowed.denySetgroups = false;
  CHECK(sys::mapWriterFor(allowed, 1001, 1002) == sys::MapWriter::kSetuidHelpers);
  CHECK(sys::mapWriterFor(subuid, 1001, 1002) == sys::MapWriter::kSetuidHelpers);
  CHECK(sys::mapWriterFor(subuid, 0, 0) == sys::MapWriter::kDirect);
}

TEST_CASE("plan: root inside uses the image's passwd and group -- single adds apt's setting") {
  PlanInputs in;
  in.image = {ImageKind::kSquashfs, "/images/x.sqsh"};
  in.user = alice();
  in.unprivileged = true;
  auto hasOp = [](const MountPlan& plan, MountOpKind kind) {
    return std::any_of(plan.ops.begin(), plan.ops.end(),
                       [kind](const MountOp& op) { return op.kind == kind; });
  };
  auto asUser = buildMountPlan(in);
  REQUIRE(asUser.ok());
  CHECK(hasOp(*asUser, MountOpKind::kPasswd));
  CHECK_FALSE(asUser->rootMaps);
  CHECK(asUser->scaffold.empty());

  auto subuid = chooseRootMapping(UsernsChoice::kSubuid,
                                  factsFor(alice(), {{100000, 65536}}, {{200000, 65536}}));
  REQUIRE(subuid.ok());
  in.root = *subuid;
  auto remapped = buildMountPlan(in);
  REQUIRE(remapped.ok());
  CHECK(remapped->unprivileged);
  REQUIRE(remapped->rootMaps);
  CHECK(*remapped->rootMaps == subuid->maps);
  CHECK_FALSE(hasOp(*remapped, MountOpKind::kPasswd));
  CHECK_FALSE(hasOp(*remapped, MountOpKind::kGroup));
  CHECK(remapped->scaffold.empty());  // real setresuid: apt's sandbox works

  in.root = *chooseRootMapping(UsernsChoice::kSingle, factsFor(alice(), {}, {}));
  auto single = buildMountPlan(in);
  REQUIRE(single.ok());
  REQUIRE(single->scaffold.size() == 1 + std::size(kSingleModeRootCopies));
  CHECK(single->scaffold[0].kind == ScaffoldEntry::Kind::kFile);
  CHECK(single->scaffold[0].path == "/etc/apt/apt.conf.d/00berth-sandbox");
  CHECK(single->scaffold[0].content.find("APT::Sandbox::User \"root\";") != std::string::npos);
  CHECK(single->scaffold[1].kind == ScaffoldEntry::Kind::kRootOwnedCopy);
  CHECK(single->scaffold[1].path == "/etc/shadow");

  // slurmstepd (root) builds it for the user: a user namespace all the same.
  in.unprivileged = false;
  auto byRoot = buildMountPlan(in);
  REQUIRE(byRoot.ok());
  CHECK(byRoot->unprivileged);

  in.config.allowFakeroot = false;
  auto refused = buildMountPlan(in);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message().find("berth.conf allow_fakeroot") != std::string::npos);

  // The identity mode is only for root.
  in.config.allowFakeroot = true;
  in.root = RootMapping{};
  CHECK_FALSE(buildMountPlan(in).ok());
  in.user.uid = 0;
  in.user.home = "/root";
  auto identity = buildMountPlan(in);
  REQUIRE(identity.ok());
  CHECK_FALSE(identity->unprivileged);
  CHECK_FALSE(identity->rootMaps);
}

TEST_CASE(
    "scaffold: files where the image has the directory, root-owned copies of others' entries") {
  namespace fs = std::filesystem;
  auto dir = TempDir::create(fs::temp_directory_path(), "berth-scaffold");
  REQUIRE(dir.ok());
  fs::path image = dir->path() / "image";
  fs::path scaffold = dir->path() / "scaffold";
  fs::create_directories(image / "etc/apt/apt.conf.d");
  fs::create_directories(image / "var/cache/apt/archives/partial");
  fs::create_directories(scaffold);
  std::ofstream(image / "etc/shadow") << "root:*:19000:0:99999:7:::\n";
  ::chmod((image / "etc/shadow").c_str(), 0640);
  ::chmod((image / "var/cache/apt/archives/partial").c_str(), 0700);
  ::chmod((image / "etc").c_str(), 0751);
  fs::create_directory_symlink("/elsewhere", image / "link");
  // Owned by another id than root, as in the image (the test may run as root or not).
  bool root = ::geteuid() == 0;
  if (root) {
    REQUIRE(::chown((image / "etc/shadow").c_str(), 0, 42) == 0);
    REQUIRE(::chown((image / "var/cache/apt/archives/partial").c_str(), 42, 0) == 0);
  }
  UniqueFd lower(::open(image.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(lower);
  std::vector<ScaffoldEntry> entries{
      {ScaffoldEntry::Kind::kFile, "/etc/apt/apt.conf.d/00x", "setting\n"},
      {ScaffoldEntry::Kind::kFile, "/etc/nothere/00x", "never\n"},  // no such directory
      {ScaffoldEntry::Kind::kFile, "/link/00x", "never\n"},         // a symlink on the way
      {ScaffoldEntry::Kind::kRootOwnedCopy, "/etc/shadow", {}},
      {ScaffoldEntry::Kind::kRootOwnedCopy, "/etc/gshadow", {}},  // not in the image
      {ScaffoldEntry::Kind::kRootOwnedCopy, "/var/cache/apt/archives/partial", {}},
  };
  auto made = makeScaffold(entries, lower.get(), scaffold);
  REQUIRE(made.ok());
  CHECK(*made);
  std::ifstream setting(scaffold / "etc/apt/apt.conf.d/00x");
  std::string line;
  std::getline(setting, line);
  CHECK(line == "setting");
  CHECK_FALSE(fs::exists(scaffold / "etc/nothere"));
  CHECK_FALSE(fs::exists(scaffold / "link"));
  struct stat st {};
  REQUIRE(::stat((scaffold / "etc").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0751);  // the image's mode on the way
  REQUIRE(::stat((scaffold / "etc/shadow").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  CHECK(st.st_uid == ::geteuid());  // made by the helper: root inside
  std::ifstream copy(scaffold / "etc/shadow");
  std::getline(copy, line);
  CHECK(line == "root:*:19000:0:99999:7:::");
  CHECK_FALSE(fs::exists(scaffold / "etc/gshadow"));
  REQUIRE(::stat((scaffold / "var/cache/apt/archives/partial").c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK((st.st_mode & 07777) == 0700);

  // Nothing of the image to configure: nothing made.
  auto none = makeScaffold({{ScaffoldEntry::Kind::kFile, "/usr/none/x", "x"}}, lower.get(),
                           dir->path() / "empty");
  REQUIRE(none.ok());
  CHECK_FALSE(*none);
}
