// Sandboxes (sandbox.hpp): the identity mode of a sandbox changed in place, and its owner's
// permissions given back so that `rm -rf` always works.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "shared/container/sandbox.hpp"
#include "shared/core/temp_dir.hpp"

using namespace berth;
using namespace berth::container;
namespace fs = std::filesystem;

namespace {

mode_t modeOf(const fs::path& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("sandbox: a sandbox changed in place keeps the user's own ids") {
  CHECK(*sandboxUsernsChoice(UsernsChoice::kAuto, true) == UsernsChoice::kSingle);
  CHECK(*sandboxUsernsChoice(UsernsChoice::kSingle, true) == UsernsChoice::kSingle);
  auto subuid = sandboxUsernsChoice(UsernsChoice::kSubuid, true);
  REQUIRE_FALSE(subuid.ok());
  CHECK(subuid.error().message().find("--userns=single") != std::string::npos);
  // Images and read-only sandboxes: the choice stands.
  CHECK(*sandboxUsernsChoice(UsernsChoice::kSubuid, false) == UsernsChoice::kSubuid);
  CHECK(*sandboxUsernsChoice(UsernsChoice::kAuto, false) == UsernsChoice::kAuto);
}

TEST_CASE("sandbox: directories without the owner's write permission get it back") {
  if (::geteuid() == 0)
    return;  // root ignores permissions: the point cannot be shown
  auto temp = TempDir::create(fs::temp_directory_path(), "berth-sandbox-test-");
  REQUIRE(temp.ok());
  fs::path root = temp->path() / "sandbox";
  fs::create_directories(root / "opt/ro/sub");
  fs::create_directories(root / "usr/bin");
  std::ofstream(root / "opt/ro/sub/file") << "x";
  std::ofstream(root / "usr/bin/tool") << "y";
  fs::create_symlink("/usr", root / "opt/link");  // never followed
  REQUIRE(::chmod((root / "opt/ro/sub").c_str(), 0555) == 0);
  REQUIRE(::chmod((root / "opt/ro").c_str(), 0500) == 0);
  REQUIRE(::chmod((root / "usr/bin/tool").c_str(), 0555) == 0);  // a file: left as it is
  REQUIRE(::chmod(root.c_str(), 0555) == 0);
  // The state a `chmod 0555` inside the container leaves: rm -rf fails.
  REQUIRE(::unlink((root / "opt/ro/sub/file").c_str()) != 0);

  auto fix = makeSandboxRemovable(root, ::geteuid());
  REQUIRE(fix.ok());
  CHECK(fix->directories == 3);
  CHECK(modeOf(root) == 0755);
  CHECK(modeOf(root / "opt/ro") == 0700);
  CHECK(modeOf(root / "opt/ro/sub") == 0755);
  CHECK(modeOf(root / "usr/bin/tool") == 0555);
  CHECK(makeSandboxRemovable(root, ::geteuid())->directories == 0);  // nothing left to do
  std::error_code ec;
  fs::remove_all(root, ec);
  CHECK_FALSE(ec);
  CHECK_FALSE(fs::exists(root));
}

TEST_CASE("sandbox: a missing sandbox is one clear error") {
  auto fix = makeSandboxRemovable("/nonexistent/berth-sandbox", ::geteuid());
  REQUIRE_FALSE(fix.ok());
  CHECK(fix.error().message().find("/nonexistent/berth-sandbox") != std::string::npos);
}
