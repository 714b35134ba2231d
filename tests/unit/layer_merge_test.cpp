#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "shared/convert/layer_merge.hpp"
#include "shared/convert/layer_reader.hpp"
#include "tests/unit/tar_builder.hpp"

using namespace berth;
using namespace berth::convert;
using berth::test::TarBuilder;

namespace {

struct Merged {
  LayerMerger merger{MergeOptions{}, Logger()};
  std::map<const FsInode*, std::string> data;  // what was read, per inode
  std::vector<std::string> readPaths;          // entries whose data went into the image
  std::vector<std::string> asidePaths;         // hidden entries read speculatively

  const FsNode* node(const std::string& path) { return merger.tree().find(path); }
  std::string content(const std::string& path) {
    const FsNode* n = node(path);
    REQUIRE(n != nullptr);
    return data[n->inode.get()];
  }
};

// Layers given TOP-DOWN, as the converter feeds them.
void mergeInto(Merged& m, std::vector<std::string> topDown) {
  for (size_t i = 0; i < topDown.size(); ++i) {
    m.merger.beginLayer("layer " + std::to_string(i));
    auto reader = LayerReader::openMemory(topDown[i].data(), topDown[i].size());
    REQUIRE(reader.ok());
    while (true) {
      auto entry = reader->next();
      REQUIRE(entry.ok());
      if (!*entry)
        break;
      MergeDecision d = m.merger.add(**entry);
      if (!d.readInto)
        continue;
      (d.readInto->speculative ? m.asidePaths : m.readPaths).push_back((*entry)->path);
      char buf[4096];
      while (true) {
        auto n = reader->read(buf, sizeof buf);
        REQUIRE(n.ok());
        if (*n == 0)
          break;
        m.data[d.readInto].append(buf, *n);
      }
    }
  }
  m.merger.finish();
}

std::vector<std::string> paths(const FsTree& tree) {
  std::vector<std::string> out;
  tree.forEach([&](const FsNode& n) { out.push_back(n.path()); });
  return out;
}

}  // namespace

TEST_CASE("layer path normalisation") {
  CHECK(*normalizeLayerPath("./usr//bin/") == "usr/bin");
  CHECK(*normalizeLayerPath("/etc/passwd") == "etc/passwd");
  CHECK(*normalizeLayerPath("./") == "");
  CHECK_FALSE(normalizeLayerPath("../etc/passwd").ok());
  CHECK_FALSE(normalizeLayerPath("a/../../b").ok());
  CHECK_FALSE(normalizeLayerPath(std::string(300, 'x')).ok());
  CHECK_FALSE(normalizeLayerPath(std::string(5000, '/')).ok());
}

TEST_CASE("merge: upper layers replace and delete -- replaced data is never read") {
  TarBuilder lower, upper;
  lower.dir("etc").file("etc/a", "lower-a").file("etc/b", "lower-b").file("etc/c", "lower-c");
  upper.dir("etc").file("etc/a", "upper-a").file("etc/.wh.b", "");
  Merged m;
  mergeInto(m, {upper.bytes(), lower.bytes()});
  CHECK(m.content("etc/a") == "upper-a");
  CHECK(m.node("etc/b") == nullptr);
  CHECK(m.content("etc/c") == "lower-c");
  CHECK(m.node("etc/.wh.b") == nullptr);
  // Only the visible files were read into the image: not lower's etc/a, not the deleted etc/b
  // (their data is only set aside, in case a hard link of their layer names them).
  CHECK(m.readPaths == std::vector<std::string>{"etc/a", "etc/c"});
  CHECK(m.asidePaths == std::vector<std::string>{"etc/a", "etc/b"});
  CHECK_FALSE(m.node("etc/a")->inode->speculative);
  CHECK(m.merger.stats().hidden >= 2);
}

TEST_CASE("merge: opaque directory hides lower content, keeps its own layer's") {
  TarBuilder bottom, middle, top;
  bottom.dir("d").file("d/old", "x").dir("d/sub").file("d/sub/deep", "y").file("keep", "k");
  middle.dir("d").file("d/.wh..wh..opq", "").file("d/new", "n");
  top.dir("d").file("d/top", "t");
  Merged m;
  mergeInto(m, {top.bytes(), middle.bytes(), bottom.bytes()});
  CHECK(paths(m.merger.tree()) == std::vector<std::string>{"", "d", "d/new", "d/top", "keep"});
  CHECK(m.content("d/new") == "n");
  CHECK(m.content("d/top") == "t");
}

TEST_CASE("merge: a file replacing a directory hides the directory's lower content") {
  TarBuilder lower, upper;
  lower.dir("x").file("x/inside", "i");
  upper.file("x", "now a file");
  Merged m;
  mergeInto(m, {upper.bytes(), lower.bytes()});
  CHECK(paths(m.merger.tree()) == std::vector<std::string>{"", "x"});
  CHECK(m.content("x") == "now a file");
}

TEST_CASE("merge: a whited-out directory re-created above shows none of the old content") {
  TarBuilder bottom, middle, top;
  bottom.dir("d").file("d/old", "o");
  middle.file(".wh.d", "");
  top.dir("d").file("d/fresh", "f");
  Merged m;
  mergeInto(m, {top.bytes(), middle.bytes(), bottom.bytes()});
  CHECK(paths(m.merger.tree()) == std::vector<std::string>{"", "d", "d/fresh"});
}

TEST_CASE("merge: a directory deleted and made again in one layer, written into above") {
  TarBuilder bottom, middle, top;
  bottom.dir("d", 0700).file("d/old", "o");
  middle.file(".wh.d", "").dir("d", 0750, 1000, 1000).file("d/x", "x");
  top.file("d/y", "y");  // no entry for d itself: d is the middle layer's
  Merged m;
  mergeInto(m, {top.bytes(), middle.bytes(), bottom.bytes()});
  CHECK(paths(m.merger.tree()) == std::vector<std::string>{"", "d", "d/x", "d/y"});
  CHECK(m.node("d")->inode->mode == 0750);
  CHECK(m.node("d")->inode->uid == 1000);
}

TEST_CASE("merge: hard links in one layer and across layers") {
  TarBuilder bottom, middle, top;
  bottom.file("bin/tool", "tool-v1").file("lib/shared", "so");
  middle.hardlink("bin/tool-alias", "bin/tool")
      .file("etc/conf", "c")
      .hardlink("etc/conf2", "etc/conf");
  top.file("bin/tool", "tool-v2");  // replaces the path; the alias keeps the old inode
  Merged m;
  mergeInto(m, {top.bytes(), middle.bytes(), bottom.bytes()});
  CHECK(m.content("bin/tool") == "tool-v2");
  CHECK(m.content("bin/tool-alias") == "tool-v1");
  const FsNode* conf = m.node("etc/conf");
  const FsNode* conf2 = m.node("etc/conf2");
  REQUIRE(conf != nullptr);
  REQUIRE(conf2 != nullptr);
  CHECK(conf->inode == conf2->inode);
  CHECK(conf->inode->nlink == 2);
  CHECK(m.node("bin/tool-alias")->inode->nlink == 1);
}

TEST_CASE("merge: hostile entries are dropped or neutralised") {
  TarBuilder layer;
  layer.file("../escape", "bad")
      .file("/abs/file", "made relative")
      .file("a/" + std::string(300, 'n'), "long name")
      .device("dev/sda", 8, 0)
      .file("usr/bin/su", "suid", 04755)
      .file("usr/bin/wall", "sgid", 02755)
      .dir("var/mail", 02775)
      .hardlink("link-out", "../../etc/shadow")
      .hardlink("link-missing", "no/such/file")
      .symlink("abs-link", "/etc/passwd");
  Merged m;
  mergeInto(m, {layer.bytes()});
  CHECK(m.node("escape") == nullptr);
  CHECK(m.content("abs/file") == "made relative");
  CHECK(m.node("dev/sda") == nullptr);
  CHECK(m.merger.stats().devicesDropped == 1);
  CHECK(m.merger.stats().deviceSample == std::vector<std::string>{"/dev/sda"});
  // setuid/setgid bits are kept by default (the image as built; images are mounted nosuid).
  CHECK(m.node("usr/bin/su")->inode->mode == 04755);
  CHECK(m.node("usr/bin/wall")->inode->mode == 02755);
  CHECK(m.node("var/mail")->inode->mode == 02775);  // setgid directories are harmless
  CHECK(m.node("link-out") == nullptr);
  CHECK(m.node("link-missing") == nullptr);
  // An absolute symlink resolves inside the container's root: kept as is.
  CHECK(m.node("abs-link")->inode->symlinkTarget == "/etc/passwd");
  CHECK(m.merger.stats().rejected == 5);  // ../escape, long name, device, 2 links
  CHECK(m.merger.stats().setuidStripped == 0);

  Merged site;
  site.merger = LayerMerger(MergeOptions{.stripSetuid = true}, Logger());
  TarBuilder again;
  again.file("usr/bin/su", "suid", 04755)
      .file("usr/bin/wall", "sgid", 02755)
      .dir("var/mail", 02775)
      .xattrFile("usr/bin/ping", "caps", "security.capability", std::string("\x01\0\0\x02", 4))
      .xattrFile("usr/bin/tagged", "user", "user.tag", "kept");
  mergeInto(site, {again.bytes()});
  CHECK(site.node("usr/bin/su")->inode->mode == 0755);
  CHECK(site.node("usr/bin/wall")->inode->mode == 0755);
  CHECK(site.node("var/mail")->inode->mode == 02775);  // setgid directories are harmless
  CHECK(site.merger.stats().setuidStripped == 2);
  // File capabilities are privileges too: removed with the setuid bits, other xattrs kept.
  CHECK(site.node("usr/bin/ping")->inode->xattrs.empty());
  CHECK(site.node("usr/bin/tagged")->inode->xattrs.size() == 1);
  CHECK(site.merger.stats().capabilitiesStripped == 1);
}

// Issue 10: hard-link groups when upper layers replace, delete or hide some of their names.
// Expected trees are what unpacking the layers bottom-up gives (umoci raw unpack, containerd).
namespace {

// The names of `paths` share one inode with that link count.
void checkGroup(Merged& m, const std::vector<std::string>& names) {
  CAPTURE(names.front());
  const FsNode* first = m.node(names.front());
  REQUIRE(first != nullptr);
  for (const std::string& name : names) {
    CAPTURE(name);
    const FsNode* node = m.node(name);
    REQUIRE(node != nullptr);
    CHECK(node->inode == first->inode);
  }
  CHECK(first->inode->nlink == names.size());
}

}  // namespace

TEST_CASE("hard links: the target replaced by an upper layer (issue 10)") {
  TarBuilder lower, upper;
  lower.dir("srv").file("srv/a", "old").hardlink("srv/b", "srv/a");
  upper.file("srv/a", "new");
  Merged m;
  mergeInto(m, {upper.bytes(), lower.bytes()});
  CHECK(m.content("srv/a") == "new");
  CHECK(m.content("srv/b") == "old");
  CHECK(m.node("srv/a")->inode != m.node("srv/b")->inode);
  CHECK(m.node("srv/a")->inode->nlink == 1);
  CHECK(m.node("srv/b")->inode->nlink == 1);
  // The hidden srv/a was read aside; its data is used under the surviving name srv/b.
  CHECK(m.asidePaths == std::vector<std::string>{"srv/a"});
  CHECK(m.node("srv/b")->inode->speculative);
}

TEST_CASE("hard links: the target whited out or under an opaque directory above") {
  SUBCASE("whiteout") {
    TarBuilder lower, upper;
    lower.file("a", "old").hardlink("b", "a");
    upper.file(".wh.a", "");
    Merged m;
    mergeInto(m, {upper.bytes(), lower.bytes()});
    CHECK(m.node("a") == nullptr);
    CHECK(m.content("b") == "old");
    CHECK(m.node("b")->inode->nlink == 1);
  }
  SUBCASE("opaque directory") {
    TarBuilder lower, upper;
    lower.dir("d").file("d/a", "old").hardlink("b", "d/a").hardlink("d/c", "d/a");
    upper.dir("d").file("d/.wh..wh..opq", "").file("d/new", "n");
    Merged m;
    mergeInto(m, {upper.bytes(), lower.bytes()});
    CHECK(paths(m.merger.tree()) == std::vector<std::string>{"", "b", "d", "d/new"});
    CHECK(m.content("b") == "old");
    CHECK(m.node("b")->inode->nlink == 1);
  }
  SUBCASE("whited-out parent directory") {
    TarBuilder lower, upper;
    lower.dir("d").file("d/a", "old").hardlink("keep", "d/a");
    upper.file(".wh.d", "");
    Merged m;
    mergeInto(m, {upper.bytes(), lower.bytes()});
    CHECK(paths(m.merger.tree()) == std::vector<std::string>{"", "keep"});
    CHECK(m.content("keep") == "old");
  }
}

TEST_CASE("hard links: the link replaced while its target stays") {
  TarBuilder lower, upper;
  lower.file("a", "old").hardlink("b", "a").hardlink("c", "a");
  upper.file("b", "new b");
  Merged m;
  mergeInto(m, {upper.bytes(), lower.bytes()});
  CHECK(m.content("a") == "old");
  CHECK(m.content("b") == "new b");
  checkGroup(m, {"a", "c"});
  CHECK(m.node("b")->inode->nlink == 1);
  CHECK(m.asidePaths.empty());  // nothing hidden needed: a's data was read as a visible file
}

TEST_CASE("hard links: groups of 3+ names and chains, one name replaced") {
  SUBCASE("group") {
    TarBuilder lower, upper;
    lower.file("a", "old", 0755, 7, 8).hardlink("b", "a").hardlink("c", "a").hardlink("d", "a");
    upper.file("a", "new");
    Merged m;
    mergeInto(m, {upper.bytes(), lower.bytes()});
    CHECK(m.content("a") == "new");
    checkGroup(m, {"b", "c", "d"});
    CHECK(m.content("d") == "old");
    CHECK(m.node("d")->inode->uid == 7);
    CHECK(m.node("d")->inode->mode == 0755);
  }
  SUBCASE("chain") {
    TarBuilder lower, upper;
    lower.file("a", "old").hardlink("b", "a").hardlink("c", "b").hardlink("d", "c");
    upper.file("a", "new").file(".wh.c", "");
    Merged m;
    mergeInto(m, {upper.bytes(), lower.bytes()});
    CHECK(m.content("a") == "new");
    CHECK(m.node("c") == nullptr);
    checkGroup(m, {"b", "d"});
    CHECK(m.content("b") == "old");
  }
  SUBCASE("across layers: links of upper layers to a lower group") {
    TarBuilder bottom, middle, top;
    bottom.file("x", "data").hardlink("y", "x");
    middle.hardlink("z", "y");
    top.hardlink("w", "z").file("x", "replaced");
    Merged m;
    mergeInto(m, {top.bytes(), middle.bytes(), bottom.bytes()});
    CHECK(m.content("x") == "replaced");
    checkGroup(m, {"w", "y", "z"});
    CHECK(m.content("w") == "data");
    CHECK(m.readPaths == std::vector<std::string>{"x"});   // top's
    CHECK(m.asidePaths == std::vector<std::string>{"x"});  // bottom's, for w/y/z
  }
}

TEST_CASE("hard links: a group split by a type change") {
  TarBuilder lower, upper;
  lower.file("a", "old").hardlink("b", "a").hardlink("c", "a");
  upper.dir("a").file("a/inside", "i");
  Merged m;
  mergeInto(m, {upper.bytes(), lower.bytes()});
  CHECK(m.node("a")->isDirectory());
  CHECK(m.content("a/inside") == "i");
  checkGroup(m, {"b", "c"});
  CHECK(m.content("c") == "old");

  SUBCASE("directory to file") {
    TarBuilder lower2, upper2;
    lower2.dir("a").file("a/f", "in dir").hardlink("g", "a/f");
    upper2.file("a", "now a file").hardlink("a2", "a");
    Merged m2;
    mergeInto(m2, {upper2.bytes(), lower2.bytes()});
    checkGroup(m2, {"a", "a2"});
    CHECK(m2.content("a2") == "now a file");
    CHECK(m2.content("g") == "in dir");
    CHECK(m2.node("a/f") == nullptr);
  }
}

TEST_CASE("hard links in an upper layer to files of that layer") {
  TarBuilder lower, upper;
  lower.file("a", "lower a").file("b", "lower b");
  upper.file("a", "upper a").hardlink("b", "a").file("c", "c").hardlink("d", "c");
  Merged m;
  mergeInto(m, {upper.bytes(), lower.bytes()});
  checkGroup(m, {"a", "b"});
  checkGroup(m, {"c", "d"});
  CHECK(m.content("b") == "upper a");
  CHECK(m.readPaths == std::vector<std::string>{"a", "c"});
}

TEST_CASE("hard links whose target never came are dropped, with the reason") {
  std::vector<std::string> warnings;
  Merged m;
  m.merger = LayerMerger(MergeOptions{}, Logger(
                                             [&](LogLevel level, std::string_view text) {
                                               if (level == LogLevel::kWarning)
                                                 warnings.emplace_back(text);
                                             },
                                             LogLevel::kVerbose));
  TarBuilder layer;
  layer.hardlink("orphan", "nowhere").dir("d").hardlink("dirlink", "d").hardlink("self", "self");
  mergeInto(m, {layer.bytes()});
  CHECK(paths(m.merger.tree()) == std::vector<std::string>{"", "d"});
  REQUIRE(warnings.size() == 3);
  CHECK(warnings[0] == "layer 0: `dirlink` dropped: hard link to directory `d`");
  CHECK(warnings[1] == "layer 0: `self` dropped: hard link to itself");
  CHECK(warnings[2] == "`orphan` dropped: hard link to `nowhere`, which no layer contains");
}

// Issue 10, item 2: a later layer writes below a name an earlier layer made a symlink.
TEST_CASE("paths below a lower layer's symlink land where it points, inside the root") {
  SUBCASE("relative link") {
    TarBuilder lower, upper;
    lower.dir("usr").dir("usr/lib").file("usr/lib/old", "o").symlink("lib", "usr/lib");
    upper.dir("lib/sub").file("lib/sub/new", "n").file("lib/top", "t");
    Merged m;
    mergeInto(m, {upper.bytes(), lower.bytes()});
    REQUIRE(m.node("lib") != nullptr);
    CHECK(m.node("lib")->inode->type == EntryType::kSymlink);
    CHECK(m.node("lib")->inode->symlinkTarget == "usr/lib");
    CHECK(m.content("usr/lib/sub/new") == "n");
    CHECK(m.content("usr/lib/top") == "t");
    CHECK(m.content("usr/lib/old") == "o");
  }
  SUBCASE("absolute link, chained through another link, whiteout through it") {
    TarBuilder lower, upper;
    lower.dir("real").file("real/gone", "g").file("real/stays", "s").symlink("mid", "/real");
    lower.dir("etc").symlink("etc/conf", "../mid");
    upper.file("etc/conf/.wh.gone", "").file("etc/conf/added", "a");
    Merged m;
    mergeInto(m, {upper.bytes(), lower.bytes()});
    CHECK(paths(m.merger.tree()) == std::vector<std::string>{"", "etc", "etc/conf", "mid", "real",
                                                             "real/added", "real/stays"});
    CHECK(m.node("etc/conf")->inode->type == EntryType::kSymlink);
  }
  SUBCASE("dangling link: the directory is made where it points") {
    TarBuilder lower, upper;
    lower.symlink("data", "/srv/data");
    upper.file("data/f", "f");
    Merged m;
    mergeInto(m, {upper.bytes(), lower.bytes()});
    CHECK(m.node("data")->inode->type == EntryType::kSymlink);
    CHECK(m.content("srv/data/f") == "f");
  }
  SUBCASE("a link that escapes stays in the root") {
    TarBuilder lower, upper;
    lower.symlink("up", "../../../../out");
    upper.file("up/f", "f");
    Merged m;
    mergeInto(m, {upper.bytes(), lower.bytes()});
    CHECK(m.content("out/f") == "f");
  }
  SUBCASE("the upper layer replaced the link itself: a directory") {
    TarBuilder lower, upper;
    lower.dir("t").symlink("d", "t");
    upper.dir("d").file("d/f", "f");
    Merged m;
    mergeInto(m, {upper.bytes(), lower.bytes()});
    CHECK(m.node("d")->isDirectory());
    CHECK(m.content("d/f") == "f");
  }
}

// Found by the differential test (tests/differential): each as its reduced layer listing.
TEST_CASE("merge: a hidden file that replaced an upper layer's directory hides what lies below") {
  TarBuilder bottom, middle, top;
  bottom.dir("a").dir("a/old").file("a/old/f", "gone");
  middle.file("a", "a file for a while");
  top.dir("a", 02775);
  Merged m;
  mergeInto(m, {top.bytes(), middle.bytes(), bottom.bytes()});
  CHECK(paths(m.merger.tree()) == std::vector<std::string>{"", "a"});
  CHECK(m.node("a")->inode->mode == 02775);
}

TEST_CASE("merge: below a symlink of the same layer, even one an upper layer replaced") {
  TarBuilder lower, upper;
  lower.symlink("e1", "/nowhere").file("e1/a2", "through the link");
  upper.file("e1", "replaced");
  Merged m;
  mergeInto(m, {upper.bytes(), lower.bytes()});
  CHECK(m.content("e1") == "replaced");
  CHECK(m.content("nowhere/a2") == "through the link");
}

TEST_CASE("merge: a hard link made before its layer's symlink names the directory's file") {
  TarBuilder bottom, middle, top;
  bottom.dir("d").dir("d/b").file("d/b/f", "in the directory");
  middle.hardlink("a", "d/b/f").symlink("d/b", "/e");
  top.dir("d/b/h");  // through the symlink: lands in /e/h
  Merged m;
  mergeInto(m, {top.bytes(), middle.bytes(), bottom.bytes()});
  CHECK(m.content("a") == "in the directory");
  CHECK(m.node("d/b")->inode->type == EntryType::kSymlink);
  REQUIRE(m.node("e/h") != nullptr);
  CHECK(m.node("e/h")->isDirectory());
  CHECK(m.node("d/b/f") == nullptr);
}

TEST_CASE("merge: a whiteout and entries below the same path in one layer") {
  TarBuilder lower, upper;
  lower.dir("d", 0700, 1000).file("d/old", "o").dir("e").file("e/old", "o");
  upper.file(".wh.d", "").dir("d/new/deep", 0700).file(".wh.e", "").dir("e", 0750);
  Merged m;
  mergeInto(m, {upper.bytes(), lower.bytes()});
  CHECK(paths(m.merger.tree()) == std::vector<std::string>{"", "d", "d/new", "d/new/deep", "e"});
  CHECK(m.node("e")->inode->mode == 0750);
  CHECK(m.node("d")->inode->mode == 0755);  // made again as a parent, not the lower d
  CHECK(m.node("d")->inode->uid == 0);
}

// The 10,000-stack campaign's mismatches (docs/pull.md), each as its reduced layer listing.
TEST_CASE("merge: a whiteout then hard links below it in one layer: upper whiteouts still delete") {
  // Seed 2679: the lower layer whites out f2 (nothing below has it) and makes f2 again with a
  // chain of links; the upper layer deletes one name of the chain. Top-down, the upper whiteout
  // had made f2 a parent of whiteouts only, and the lower `.wh.f2` forgot what lay below it.
  TarBuilder lower, upper;
  lower.file(".wh.f2", "")
      .file("b2/a2/h2", "data", 0444, 123, 456)
      .hardlink("f2/f2", "b2/a2/h2")
      .hardlink("f2/f", "f2/f2");
  upper.file("f2/.wh.f", "");
  Merged m;
  mergeInto(m, {upper.bytes(), lower.bytes()});
  CHECK(paths(m.merger.tree()) ==
        std::vector<std::string>{"", "b2", "b2/a2", "b2/a2/h2", "f2", "f2/f2"});
  CHECK(m.node("f2")->isDirectory());
  CHECK(m.node("f2/f2")->inode->type == EntryType::kRegular);
  checkGroup(m, {"b2/a2/h2", "f2/f2"});
  CHECK(m.content("f2/f2") == "data");
  CHECK(m.node("f2/f2")->inode->uid == 123);

  SUBCASE("deeper: the upper whiteout two directories below") {
    // Seed 6165, reduced.
    TarBuilder lower2, upper2;
    lower2.file(".wh.f", "").file("f/b/a1/e2/h", "x");
    upper2.file("f/b/.wh.a1", "");
    Merged m2;
    mergeInto(m2, {upper2.bytes(), lower2.bytes()});
    CHECK(paths(m2.merger.tree()) == std::vector<std::string>{"", "f", "f/b"});
    REQUIRE(m2.node("f/b") != nullptr);
    CHECK(m2.node("f/b")->isDirectory());
  }
}

TEST_CASE("merge: a directory whited out and made again in one layer hides a lower symlink") {
  // Seed 6165: the bottom layer makes f a symlink; the middle one deletes f and writes below
  // f (a new directory, not through the deleted link); the top one deletes a path below it.
  TarBuilder bottom, middle, top;
  bottom.symlink("f", "/missing/h3");
  middle.file(".wh.f", "").file("f/b/e/a1/h", "h").file("f/b/e/a1/d", "d").file("f/b/e/g", "g");
  top.file("f/b/e/.wh.a1", "");
  Merged m;
  mergeInto(m, {top.bytes(), middle.bytes(), bottom.bytes()});
  CHECK(paths(m.merger.tree()) == std::vector<std::string>{"", "f", "f/b", "f/b/e", "f/b/e/g"});
  CHECK(m.node("f")->isDirectory());
  CHECK(m.node("f")->inode->mode == 0755);
  CHECK(m.content("f/b/e/g") == "g");
  CHECK(m.node("missing") == nullptr);

  SUBCASE("a lower directory's metadata does not fill it either") {
    TarBuilder bottom2, middle2, top2;
    bottom2.dir("f", 0700, 1000, 1000).file("f/old", "o");
    middle2.file(".wh.f", "").file("f/b/x", "x");
    top2.file("f/b/.wh.y", "");
    Merged m2;
    mergeInto(m2, {top2.bytes(), middle2.bytes(), bottom2.bytes()});
    CHECK(paths(m2.merger.tree()) == std::vector<std::string>{"", "f", "f/b", "f/b/x"});
    CHECK(m2.node("f")->inode->mode == 0755);
    CHECK(m2.node("f")->inode->uid == 0);
  }
}

TEST_CASE("merge: a symlink replacing a directory drops its layer's entries deep below") {
  // Seed 8480: the middle layer writes a hard link deep below `a`, then makes `a` a symlink
  // (the directory and the link go); the top layer writes `a/h`, through the link: `h/h`.
  TarBuilder bottom, middle, top;
  bottom.file("b0", "b0 data", 0755, 123, 456);
  middle.hardlink("a/h/g2/f/d", "b0").symlink("a", "h");
  top.dir("a/h", 02775, 1000, 1000);
  Merged m;
  mergeInto(m, {top.bytes(), middle.bytes(), bottom.bytes()});
  CHECK(paths(m.merger.tree()) == std::vector<std::string>{"", "a", "b0", "h", "h/h"});
  CHECK(m.node("a")->inode->type == EntryType::kSymlink);
  CHECK(m.node("a")->inode->symlinkTarget == "h");
  CHECK(m.node("h/h")->isDirectory());
  CHECK(m.node("h/h")->inode->mode == 02775);
  CHECK(m.node("b0")->inode->nlink == 1);
  CHECK(m.content("b0") == "b0 data");
}

TEST_CASE("layer reader: gzip and zstd layers, xattrs, owners") {
  for (const char* filter : {"gzip", "zstd", "none"}) {
    CAPTURE(filter);
    TarBuilder layer(filter);
    layer.file("f", "hello", 0640, 1000, 1001).xattrFile("x", "data", "user.k", "v");
    const std::string& bytes = layer.bytes();
    auto reader = LayerReader::openMemory(bytes.data(), bytes.size());
    REQUIRE(reader.ok());
    auto first = reader->next();
    REQUIRE(first.ok());
    REQUIRE(first->has_value());
    CHECK((*first)->path == "f");
    CHECK((*first)->uid == 1000);
    CHECK((*first)->gid == 1001);
    CHECK((*first)->mode == 0640);
    CHECK((*first)->size == 5);
    auto second = reader->next();
    REQUIRE(second.ok());
    REQUIRE(second->has_value());
    REQUIRE((*second)->xattrs.size() == 1);
    CHECK((*second)->xattrs[0].first == "user.k");
    CHECK((*second)->xattrs[0].second == "v");
    auto end = reader->next();
    REQUIRE(end.ok());
    CHECK_FALSE(end->has_value());
  }
  std::string garbage(1000, 'z');
  auto reader = LayerReader::openMemory(garbage.data(), garbage.size());
  bool failed = !reader.ok() || !reader->next().ok();
  CHECK(failed);
}
