#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "shared/build/cache_key.hpp"
#include "shared/build/dockerignore.hpp"
#include "shared/core/temp_dir.hpp"

using namespace berth::build;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& path, std::string_view text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::string hashOf(const fs::path& root, const std::vector<std::string>& sources,
                   const TreeHashOptions& options = {}) {
  auto hash = treeHash(root, sources, options);
  REQUIRE_MESSAGE(hash.ok(), (hash.ok() ? "" : hash.error().message()));
  return *hash;
}

DockerStep stepOf(std::string_view dockerfile, size_t index = 0) {
  auto file = parseDockerfile(dockerfile, {});
  REQUIRE_MESSAGE(file.ok(), (file.ok() ? "" : file.error().message()));
  return file->stages.back().steps.at(index);
}

}  // namespace

TEST_CASE("cache key: canonical instructions see substitution and the state in effect") {
  std::string a = canonicalInstruction(stepOf("FROM x\nARG V=1\nRUN make\n", 1));
  CHECK(a == canonicalInstruction(stepOf("FROM x\nARG V=1\nRUN   make\n", 1)));
  CHECK(a == canonicalInstruction(stepOf("FROM x\n# comment\nARG V=1\nRUN make\n", 1)));
  CHECK(a != canonicalInstruction(stepOf("FROM x\nARG V=2\nRUN make\n", 1)));
  CHECK(a != canonicalInstruction(stepOf("FROM x\nARG V=1\nWORKDIR /w\nRUN make\n", 2)));
  CHECK(a != canonicalInstruction(stepOf("FROM x\nARG V=1\nUSER 1000\nRUN make\n", 2)));
  CHECK(a != canonicalInstruction(
                 stepOf("FROM x\nARG V=1\nSHELL [\"/bin/bash\", \"-c\"]\nRUN make\n", 2)));
  CHECK(canonicalInstruction(stepOf("FROM x\nENV D=/a\nCOPY f $D\n", 1)) ==
        canonicalInstruction(stepOf("FROM x\nENV D=/a\nCOPY f /a\n", 1)));
  CHECK(canonicalInstruction(stepOf("FROM x\nCOPY f /a\n")) ==
        canonicalInstruction(stepOf("FROM x\ncopy f /a\n")));
  // A proxy is given to RUN but does not change the key (Docker's rule).
  DockerStep proxied = stepOf("FROM x\nARG V=1\nRUN make\n", 1);
  proxied.proxyEnvironment = {"HTTP_PROXY=http://p:3128"};
  CHECK(canonicalInstruction(proxied) == a);
  // Any bytes survive as distinct text.
  CHECK(canonicalInstruction(stepOf("FROM x\nRUN echo \xff\n")) !=
        canonicalInstruction(stepOf("FROM x\nRUN echo \xfe\n")));

  DefinitionSection post{"post", "", "apt-get install -y cowsay\n", {3}};
  DefinitionSection bash = post;
  bash.shell = "/bin/bash";
  CHECK(canonicalSection(post) != canonicalSection(bash));
  CHECK(canonicalSection(post) != canonicalSection(post, {"A=1"}));
  FilesSection files{"", {{"a", "/a", 4}}, 3};
  FilesSection other = files;
  other.copies[0].destination = "/b";
  CHECK(canonicalFiles(files) != canonicalFiles(other));
}

TEST_CASE("cache key: tree hash of COPY sources") {
  berth::TempDir dir = berth::TempDir::create(fs::temp_directory_path(), "build-cache-key").value();
  fs::path root = dir.path();
  write(root / "src/main.c", "int main() {}\n");
  write(root / "src/util.c", "void util() {}\n");
  write(root / "README.md", "hello\n");
  write(root / "build/out.o", "binary");
  fs::create_symlink("main.c", root / "src/link.c");

  std::string all = hashOf(root, {"."});
  std::string src = hashOf(root, {"src"});
  CHECK(all.starts_with("sha256:"));
  CHECK(all != src);
  CHECK(hashOf(root, {"src"}) == src);         // stable
  CHECK(hashOf(root, {"./src/"}) == src);      // cleaned
  CHECK(hashOf(root, {"/src"}) == src);        // COPY's "/" is the context root
  CHECK(hashOf(root, {"src", "src"}) == src);  // named twice, counted once
  CHECK(hashOf(root, {"src/*.c"}) != src);     // matched entries have other paths

  // mtime is not in the hash; content, mode and link targets are.
  fs::last_write_time(root / "src/main.c",
                      fs::file_time_type::clock::now() - std::chrono::hours(5));
  CHECK(hashOf(root, {"src"}) == src);
  write(root / "src/main.c", "int main() { return 1; }\n");
  std::string changed = hashOf(root, {"src"});
  CHECK(changed != src);
  REQUIRE(::chmod((root / "src/main.c").c_str(), 0700) == 0);
  std::string chmodded = hashOf(root, {"src"});
  CHECK(chmodded != changed);
  fs::remove(root / "src/link.c");
  fs::create_symlink("util.c", root / "src/link.c");
  CHECK(hashOf(root, {"src"}) != chmodded);

  // .dockerignore: excluded files change nothing.
  DockerIgnore ignore = DockerIgnore::parse("build\n*.md\n").value();
  TreeHashOptions options{&ignore};
  std::string ignored = hashOf(root, {"."}, options);
  write(root / "build/out.o", "other binary");
  write(root / "README.md", "changed\n");
  CHECK(hashOf(root, {"."}, options) == ignored);
  write(root / "src/new.c", "\n");
  CHECK(hashOf(root, {"."}, options) != ignored);

  // An exception re-includes a file below an excluded directory: the walk still goes there.
  DockerIgnore exception = DockerIgnore::parse("src\n!src/main.c\n").value();
  TreeHashOptions withException{&exception};
  std::string onlyMain = hashOf(root, {"."}, withException);
  write(root / "src/util.c", "void util(long) {}\n");
  CHECK(hashOf(root, {"."}, withException) == onlyMain);
  write(root / "src/main.c", "int main() { return 2; }\n");
  CHECK(hashOf(root, {"."}, withException) != onlyMain);

  // Followed links (%files): the content of the target counts.
  TreeHashOptions follow;
  follow.followSymlinks = true;
  std::string followed = hashOf(root, {"src/link.c"}, follow);
  write(root / "src/util.c", "void util(int) {}\n");
  CHECK(hashOf(root, {"src/link.c"}, follow) != followed);
  fs::create_symlink("..", root / "src/loop");
  CHECK(treeHash(root, {"src"}, follow).error().message().find("loops back") != std::string::npos);

  CHECK(treeHash(root, {"missing"}).error().message().starts_with("source `missing`"));
  CHECK(treeHash(root, {"src/*.none"}).error().message() == "source `src/*.none` matches nothing");
  CHECK(treeHash(root, {"../etc"}).error().message() ==
        "source `../etc` is outside the build context");
}

TEST_CASE("cache key: chaining") {
  std::string k1 = chainKey("sha256:base", "root", "{\"RUN\"}", "").value();
  CHECK(k1.starts_with("sha256:"));
  CHECK(k1 == chainKey("sha256:base", "root", "{\"RUN\"}", "").value());
  CHECK(k1 != chainKey("sha256:other", "root", "{\"RUN\"}", "").value());
  CHECK(k1 != chainKey("sha256:base", "subuid", "{\"RUN\"}", "").value());
  CHECK(k1 != chainKey("sha256:base", "root", "{\"RUN\"}", "sha256:tree").value());
  // Fields cannot run into each other.
  CHECK(chainKey("ab", "c", "", "").value() != chainKey("a", "bc", "", "").value());
}
