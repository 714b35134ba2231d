// The layer writer, read back by berth's own layer reader (digests checked) and merged over a
// lower layer by the converter's LayerMerger: the differential check that a layer made from an
// upper directory means, to the converter, what the overlay meant.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include "shared/build/layer_writer.hpp"
#include "shared/convert/layer_merge.hpp"
#include "shared/convert/layer_reader.hpp"
#include "shared/core/temp_dir.hpp"

using namespace berth;
using namespace berth::build;
using namespace berth::convert;
namespace fs = std::filesystem;

namespace {

// No doctest assertion here: the overlay test's forked child uses it too.
bool writeFile(const fs::path& path, std::string_view text, mode_t mode = 0644) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  std::ofstream(path) << text;
  return ::chmod(path.c_str(), mode) == 0;
}

void write(const fs::path& path, std::string_view text, mode_t mode = 0644) {
  REQUIRE(writeFile(path, text, mode));
}

LayerBlob written(const fs::path& upper, const fs::path& out, const LayerWriteOptions& options) {
  auto blob = writeLayerFromUpper(upper, out, options);
  REQUIRE_MESSAGE(blob.ok(), (blob.ok() ? "" : blob.error().message()));
  return *blob;
}

// Every entry of the layer, digests verified when the reader reaches the end.
std::vector<LayerEntry> entriesOf(const fs::path& file, const LayerBlob& blob) {
  auto reader = LayerReader::openFile(file, {blob.digest, blob.size, blob.diffId});
  REQUIRE(reader.ok());
  std::vector<LayerEntry> out;
  while (true) {
    auto entry = reader->next();
    REQUIRE_MESSAGE(entry.ok(), (entry.ok() ? "" : entry.error().message()));
    if (!*entry)
      break;
    out.push_back(**entry);
  }
  return out;
}

const LayerEntry* find(const std::vector<LayerEntry>& entries, std::string_view path) {
  for (const LayerEntry& e : entries)
    if (e.path == path)
      return &e;
  return nullptr;
}

// Layers applied top-down with the converter's merger: "path type mode uid:gid size target
// content" lines for the final tree (the root left out).
std::vector<std::string> mergedListing(const std::vector<fs::path>& topDown) {
  LayerMerger merger{MergeOptions{.keepDevices = true}, Logger()};
  std::map<const FsInode*, std::string> data;
  for (const fs::path& layer : topDown) {
    merger.beginLayer(layer.filename().string());
    auto reader = LayerReader::openFile(layer);
    REQUIRE(reader.ok());
    while (true) {
      auto entry = reader->next();
      REQUIRE(entry.ok());
      if (!*entry)
        break;
      MergeDecision d = merger.add(**entry);
      char buf[4096];
      while (d.readInto != nullptr) {
        auto n = reader->read(buf, sizeof buf);
        REQUIRE(n.ok());
        if (*n == 0)
          break;
        data[d.readInto].append(buf, *n);
      }
    }
  }
  merger.finish();
  std::vector<std::string> out;
  merger.tree().forEach([&](const FsNode& node) {
    if (node.parent == nullptr)
      return;
    const FsInode& i = *node.inode;
    out.push_back(fmt::format("{} {} {:o} {}:{} {} {} {}", node.path(), entryTypeName(i.type),
                              i.mode, i.uid, i.gid, i.type == EntryType::kRegular ? i.size : 0,
                              i.symlinkTarget, data[&i]));
  });
  return out;
}

bool canMakeWhiteouts(const fs::path& dir) {
  fs::path probe = dir / "probe";
  bool ok = ::mknod(probe.c_str(), S_IFCHR | 0, makedev(0, 0)) == 0;
  ::unlink(probe.c_str());
  return ok;
}

}  // namespace

TEST_CASE("layer writer: id maps") {
  std::vector<IdMapRange> subuid = {{0, 1000, 1}, {1, 100000, 65536}};
  CHECK(mapIdBack({}, 42) == 42u);
  CHECK(mapIdBack(subuid, 1000) == 0u);
  CHECK(mapIdBack(subuid, 100000) == 1u);
  CHECK(mapIdBack(subuid, 165535) == 65536u);
  CHECK_FALSE(mapIdBack(subuid, 165536).has_value());
  CHECK_FALSE(mapIdBack(subuid, 0).has_value());
}

TEST_CASE("layer writer: a hand-made upper directory") {
  TempDir dir = TempDir::create(fs::temp_directory_path(), "build-layer").value();
  fs::path upper = dir.path() / "upper";
  write(upper / "etc/new.conf", "hello\n", 0640);
  write(upper / "etc/hard1", "linked\n");
  fs::create_hard_link(upper / "etc/hard1", upper / "etc/hard2");
  fs::create_directories(upper / "bin");
  fs::create_symlink("../etc/new.conf", upper / "bin/tool");
  write(upper / "opaque/keep", "kept\n");
  REQUIRE(::chmod((upper / "bin").c_str(), 0700) == 0);
  bool userXattrs = ::setxattr((upper / "opaque").c_str(), "user.overlay.opaque", "y", 1, 0) == 0;
  if (userXattrs) {
    REQUIRE(::setxattr((upper / "etc/new.conf").c_str(), "user.note", "v\0x", 3, 0) == 0);
    REQUIRE(::setxattr((upper / "opaque").c_str(), "user.overlay.origin", "o", 1, 0) == 0);
  }
  bool root = canMakeWhiteouts(dir.path());
  uid_t me = ::getuid();
  gid_t myGroup = ::getgid();
  LayerWriteOptions options;
  options.sourceDateEpoch = 1000;
  options.uidMap = {{0, me, 1}, {1, 200000, 65536}};
  options.gidMap = {{0, myGroup, 1}, {1, 200000, 65536}};
  if (root) {
    REQUIRE(::mknod((upper / "etc/gone").c_str(), S_IFCHR | 0, makedev(0, 0)) == 0);
    REQUIRE(::mknod((upper / "etc/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
    REQUIRE(::lchown((upper / "bin/tool").c_str(), 200004, 200007) == 0);
  }

  LayerBlob blob = written(upper, dir.path() / "layer.tar.gz", options);
  CHECK(blob.digest.starts_with("sha256:"));
  CHECK(blob.diffId != blob.digest);
  CHECK(blob.size == static_cast<int64_t>(fs::file_size(dir.path() / "layer.tar.gz")));
  std::vector<LayerEntry> entries = entriesOf(dir.path() / "layer.tar.gz", blob);
  CHECK(blob.entries == static_cast<int64_t>(entries.size()));

  std::vector<std::string> order;
  for (const LayerEntry& e : entries)
    order.push_back(e.path);
  std::vector<std::string> expected = {"bin", "bin/tool", "etc"};
  if (root)
    expected.push_back("etc/.wh.gone");
  for (const char* p : {"etc/hard1", "etc/hard2", "etc/new.conf"})
    expected.push_back(p);
  if (root)
    expected.push_back("etc/null");
  expected.push_back("opaque");
  if (userXattrs)
    expected.push_back("opaque/.wh..wh..opq");
  expected.push_back("opaque/keep");
  CHECK(order == expected);

  for (const LayerEntry& e : entries)
    CHECK(e.mtime <= 1000);
  const LayerEntry* conf = find(entries, "etc/new.conf");
  REQUIRE(conf != nullptr);
  CHECK(conf->mode == 0640);
  CHECK(conf->uid == 0);
  CHECK(conf->gid == 0);
  CHECK(conf->size == 6);
  CHECK(find(entries, "bin")->mode == 0700);
  CHECK(find(entries, "bin/tool")->type == EntryType::kSymlink);
  CHECK(find(entries, "bin/tool")->linkTarget == "../etc/new.conf");
  CHECK(find(entries, "etc/hard1")->type == EntryType::kRegular);
  CHECK(find(entries, "etc/hard2")->type == EntryType::kHardlink);
  CHECK(find(entries, "etc/hard2")->linkTarget == "etc/hard1");
  if (userXattrs) {
    using Xattrs = std::vector<std::pair<std::string, std::string>>;
    CHECK(conf->xattrs == Xattrs{{"user.note", std::string("v\0x", 3)}});
    CHECK(find(entries, "opaque")->xattrs.empty());  // overlay's own attributes are left out
  }
  if (root) {
    CHECK(find(entries, "bin/tool")->uid == 5);
    CHECK(find(entries, "bin/tool")->gid == 8);
    CHECK(find(entries, "etc/.wh.gone")->size == 0);
    CHECK(find(entries, "etc/null")->type == EntryType::kCharDevice);
    CHECK(find(entries, "etc/null")->devMinor == 3);
  }

  // Deterministic: the same tree gives the same bytes, later mtimes included.
  REQUIRE(::utimensat(AT_FDCWD, (upper / "etc/new.conf").c_str(), nullptr, 0) == 0);
  LayerBlob again = written(upper, dir.path() / "again.tar.gz", options);
  CHECK(again.digest == blob.digest);
  CHECK(again.diffId == blob.diffId);

  // The differential check: over a lower layer, the converter's merge sees the overlay's view.
  if (root && userXattrs) {
    fs::path lower = dir.path() / "lower";
    write(lower / "etc/gone", "deleted by the step\n");
    write(lower / "etc/old.conf", "from the base\n");
    write(lower / "opaque/hidden", "hidden by the opaque directory\n");
    LayerBlob base = written(lower, dir.path() / "lower.tar.gz", options);
    std::vector<std::string> merged =
        mergedListing({dir.path() / "layer.tar.gz", dir.path() / "lower.tar.gz"});
    std::string all;
    for (const std::string& line : merged)
      all += line + "\n";
    CHECK(all.find("etc/gone") == std::string::npos);
    CHECK(all.find("opaque/hidden") == std::string::npos);
    CHECK(all.find("etc/old.conf file 644 0:0 14  from the base") != std::string::npos);
    CHECK(all.find("opaque/keep file 644 0:0 5  kept") != std::string::npos);
    CHECK(all.find("bin/tool symlink 777 5:8 0 ../etc/new.conf") != std::string::npos);
    CHECK(base.entries > 0);
  }
}

TEST_CASE("layer writer: what an OCI layer cannot say is an error") {
  TempDir dir = TempDir::create(fs::temp_directory_path(), "build-layer").value();
  fs::path upper = dir.path() / "upper";
  write(upper / "file", "x");
  LayerWriteOptions options;
  options.uidMap = {{0, 4000000000u, 1}};
  options.gidMap = {{0, ::getgid(), 1}};
  auto unmapped = writeLayerFromUpper(upper, dir.path() / "l.tgz", options);
  REQUIRE_FALSE(unmapped.ok());
  CHECK(unmapped.error().message().find("`/file` is owned by") != std::string::npos);
  write(upper / "sub/.wh.trick", "x");
  auto named = writeLayerFromUpper(upper, dir.path() / "l.tgz");
  REQUIRE_FALSE(named.ok());
  CHECK(named.error().message().find("`/sub/.wh.trick`: a name starting with .wh.") !=
        std::string::npos);

  // An empty upper directory is an empty layer.
  fs::create_directories(dir.path() / "empty");
  auto empty = writeLayerFromUpper(dir.path() / "empty", dir.path() / "e.tgz");
  REQUIRE(empty.ok());
  CHECK(empty->entries == 0);
}

// As root: a real overlay mount, changed as a build step would change it; the layer of its upper
// directory over the layer of its lower one must merge into the tree the mount showed.
TEST_CASE("layer writer: a real overlay's upper directory against the merged view") {
  TempDir dir = TempDir::create(fs::temp_directory_path(), "build-overlay").value();
  if (!canMakeWhiteouts(dir.path())) {
    MESSAGE("skipped: needs root (mknod, mount)");
    return;
  }
  fs::path lower = dir.path() / "lower", upper = dir.path() / "upper";
  fs::path work = dir.path() / "work", merged = dir.path() / "merged";
  for (const fs::path& p : {lower, upper, work, merged})
    fs::create_directories(p);
  write(lower / "etc/os-release", "ID=test\n");
  write(lower / "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  write(lower / "usr/share/doc/a", "doc a\n");
  write(lower / "usr/share/doc/b", "doc b\n");
  write(lower / "var/lib/state", "old state\n");
  write(lower / "bin/sh", "#!shell\n", 0755);
  fs::path listing = dir.path() / "listing";

  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // A mount namespace of its own: nothing stays mounted whatever happens.
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr))
      ::_exit(2);
    std::string data = "lowerdir=" + lower.string() + ",upperdir=" + upper.string() +
                       ",workdir=" + work.string() + ",redirect_dir=off,metacopy=off,index=off";
    if (::mount("overlay", merged.c_str(), "overlay", 0, data.c_str()) != 0)
      ::_exit(3);
    std::error_code ec;
    fs::remove(merged / "etc/os-release", ec);     // whiteout
    fs::remove_all(merged / "usr/share/doc", ec);  // then recreated: opaque
    if (!writeFile(merged / "usr/share/doc/c", "doc c\n") ||
        !writeFile(merged / "var/lib/state", "new state\n", 0600) ||  // copy-up
        !writeFile(merged / "opt/app/run", "#!app\n", 0755))
      ::_exit(5);
    fs::create_hard_link(merged / "opt/app/run", merged / "opt/app/run-again", ec);
    fs::create_symlink("/opt/app/run", merged / "bin/app", ec);
    if (::chown((merged / "opt/app").c_str(), 1000, 1000) != 0 ||
        ::chmod((merged / "etc").c_str(), 0750) != 0)  // metadata-only copy-up
      ::_exit(5);
    std::ofstream out(listing);
    std::vector<std::string> lines;
    for (const auto& entry : fs::recursive_directory_iterator(merged)) {
      struct stat st {};
      ::lstat(entry.path().c_str(), &st);
      std::string rel = fs::relative(entry.path(), merged).string();
      std::string type = S_ISDIR(st.st_mode)   ? "directory"
                         : S_ISLNK(st.st_mode) ? "symlink"
                                               : "file";
      std::string target, content;
      if (S_ISLNK(st.st_mode))
        target = fs::read_symlink(entry.path()).string();
      if (S_ISREG(st.st_mode)) {
        std::stringstream s;
        s << std::ifstream(entry.path()).rdbuf();
        content = s.str();
      }
      lines.push_back(fmt::format("{} {} {:o} {}:{} {} {} {}", rel, type, st.st_mode & 07777,
                                  st.st_uid, st.st_gid, S_ISREG(st.st_mode) ? st.st_size : 0,
                                  target, content));
    }
    std::sort(lines.begin(), lines.end());
    for (const std::string& line : lines)
      out << line << '\0';
    out.close();
    ::_exit(::umount(merged.c_str()) == 0 ? 0 : 4);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
    MESSAGE("skipped: overlayfs cannot be mounted here");
    return;
  }
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  LayerWriteOptions options;
  options.sourceDateEpoch = 0;
  written(lower, dir.path() / "lower.tgz", options);
  LayerBlob step = written(upper, dir.path() / "upper.tgz", options);
  std::vector<LayerEntry> entries = entriesOf(dir.path() / "upper.tgz", step);
  CHECK(find(entries, "etc/.wh.os-release") != nullptr);
  CHECK(find(entries, "usr/share/doc/.wh..wh..opq") != nullptr);
  CHECK(find(entries, "opt/app/run-again")->type == EntryType::kHardlink);
  CHECK(find(entries, "usr/share/doc/a") == nullptr);

  std::vector<std::string> got =
      mergedListing({dir.path() / "upper.tgz", dir.path() / "lower.tgz"});
  std::sort(got.begin(), got.end());
  std::stringstream s;
  s << std::ifstream(listing).rdbuf();
  std::vector<std::string> want;
  std::string text = s.str();
  for (size_t start = 0, end; (end = text.find('\0', start)) != std::string::npos; start = end + 1)
    want.push_back(text.substr(start, end - start));
  CHECK(got == want);
}
