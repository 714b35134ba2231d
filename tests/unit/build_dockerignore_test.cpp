#include <doctest/doctest.h>

#include "shared/build/dockerignore.hpp"

using namespace berth::build;

namespace {

DockerIgnore ignoring(std::string_view text) {
  auto ignore = DockerIgnore::parse(text);
  REQUIRE_MESSAGE(ignore.ok(), (ignore.ok() ? "" : ignore.error().message()));
  return *ignore;
}

}  // namespace

TEST_CASE("dockerignore: glob language") {
  CHECK(globMatch("*.o", "a.o"));
  CHECK_FALSE(globMatch("*.o", "src/a.o"));
  CHECK(globMatch("*/*.o", "src/a.o"));
  CHECK(globMatch("**/*.o", "a.o"));
  CHECK(globMatch("**/*.o", "src/deep/a.o"));
  CHECK(globMatch("src/**", "src/x/y"));
  CHECK(globMatch("**", "anything/at/all"));
  CHECK(globMatch("a/**/b", "a/b"));
  CHECK(globMatch("a/**/b", "a/x/y/b"));
  CHECK_FALSE(globMatch("a/**/b", "a/xb"));
  CHECK(globMatch("file?.txt", "file1.txt"));
  CHECK_FALSE(globMatch("file?.txt", "file/.txt"));
  CHECK(globMatch("[a-c]x", "bx"));
  CHECK_FALSE(globMatch("[a-c]x", "dx"));
  CHECK(globMatch("[^a-c]x", "dx"));
  CHECK(globMatch("\\*star", "*star"));
  CHECK_FALSE(globMatch("\\*star", "xstar"));
  CHECK(globMatch("exact", "exact"));
  CHECK_FALSE(globMatch("exact", "exactly"));
  CHECK(cleanRelativePath("./a//b/../c/") == "a/c");
  CHECK(cleanRelativePath("/abs") == "abs");
  CHECK(cleanRelativePath("") == ".");
  CHECK(cleanRelativePath("../x") == "../x");
}

TEST_CASE("dockerignore: Docker's rules") {
  DockerIgnore ignore = ignoring(R"(# comment
  *.md
/build
./tmp/
node_modules
**/*.pyc
!README.md
docs
!docs/keep/**
 # not a comment: leading blank, so a pattern
)");
  CHECK(ignore.excluded("CHANGES.md"));
  CHECK_FALSE(ignore.excluded("README.md"));       // the later exception wins
  CHECK_FALSE(ignore.excluded("sub/CHANGES.md"));  // `*` stays in one component
  CHECK(ignore.excluded("build"));
  CHECK(ignore.excluded("build/out/a.o"));  // under an excluded directory
  CHECK(ignore.excluded("tmp/x"));
  CHECK(ignore.excluded("node_modules/pkg/index.js"));
  CHECK_FALSE(ignore.excluded("src/node_modules"));
  CHECK(ignore.excluded("a/b/c.pyc"));
  CHECK(ignore.excluded("c.pyc"));
  CHECK(ignore.excluded("docs/guide.txt"));
  CHECK_FALSE(ignore.excluded("docs/keep/a.txt"));
  CHECK(ignore.excluded("# not a comment: leading blank, so a pattern"));
  CHECK_FALSE(ignore.excluded("src/main.c"));
  CHECK(ignore.hasExceptions());

  // Order matters: an exclusion after an exception wins again.
  DockerIgnore ordered = ignoring("*\n!keep\nkeep/secret\n");
  CHECK(ordered.excluded("other"));
  CHECK_FALSE(ordered.excluded("keep"));
  CHECK_FALSE(ordered.excluded("keep/file"));
  CHECK(ordered.excluded("keep/secret"));

  CHECK(ignoring("").empty());
  CHECK_FALSE(ignoring("\xEF\xBB\xBF"
                       "a\n")
                  .excluded("b"));
  CHECK(ignoring("\xEF\xBB\xBF"
                 "a\n")
            .excluded("a"));
  CHECK(DockerIgnore::parse("ok\n!\n").error().message() ==
        ".dockerignore:2: `!` alone excludes nothing");
  CHECK(DockerIgnore::parse("[abc\n").error().message() ==
        ".dockerignore:1: `[abc` has an unclosed `[`");
}
