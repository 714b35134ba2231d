#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "shared/image/layer_merge.hpp"
#include "shared/image/layer_reader.hpp"
#include "tests/unit/tar_builder.hpp"

using namespace berth;
using namespace berth::image;
using berth::test::TarBuilder;

namespace {

struct Merged {
  LayerMerger merger{MergeOptions{}, Logger()};
  std::map<const FsInode*, std::string> data;  // what was read, per inode
  std::vector<std::string> readPaths;          // entries whose data was read

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
      m.readPaths.push_back((*entry)->path);
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

TEST_CASE("merge: upper layers replace and delete; replaced data is never read") {
  TarBuilder lower, upper;
  lower.dir("etc").file("etc/a", "lower-a").file("etc/b", "lower-b").file("etc/c", "lower-c");
  upper.dir("etc").file("etc/a", "upper-a").file("etc/.wh.b", "");
  Merged m;
  mergeInto(m, {upper.bytes(), lower.bytes()});
  CHECK(m.content("etc/a") == "upper-a");
  CHECK(m.node("etc/b") == nullptr);
  CHECK(m.content("etc/c") == "lower-c");
  CHECK(m.node("etc/.wh.b") == nullptr);
  // Only the visible files were read: not lower's etc/a, not the deleted etc/b.
  CHECK(m.readPaths == std::vector<std::string>{"etc/a", "etc/c"});
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
  CHECK(m.node("usr/bin/su")->inode->mode == 0755);
  CHECK(m.node("usr/bin/wall")->inode->mode == 0755);
  CHECK(m.node("var/mail")->inode->mode == 02775);  // setgid directories are harmless
  CHECK(m.node("link-out") == nullptr);
  CHECK(m.node("link-missing") == nullptr);
  // An absolute symlink resolves inside the container's root: kept as is.
  CHECK(m.node("abs-link")->inode->symlinkTarget == "/etc/passwd");
  CHECK(m.merger.stats().rejected == 5);  // ../escape, long name, device, 2 links
  CHECK(m.merger.stats().setuidStripped == 2);

  Merged admin;
  admin.merger = LayerMerger(MergeOptions{.keepSetuid = true}, Logger());
  TarBuilder again;
  again.file("usr/bin/su", "suid", 04755);
  mergeInto(admin, {again.bytes()});
  CHECK(admin.node("usr/bin/su")->inode->mode == 04755);
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
