#include <doctest/doctest.h>

#include <fstream>

#include "shared/core/temp_dir.hpp"
#include "spank_plugin/plugstack_args.hpp"

using namespace berth::spank;

namespace {
std::optional<std::string> noEnvironment(std::string_view) {
  return std::nullopt;
}
}  // namespace

TEST_CASE("plugstack arguments: none means berth.conf or defaults") {
  // /etc/berth/berth.conf does not exist on the build machine; $BERTH_CONFIG points nowhere.
  auto dir = berth::TempDir::create(std::filesystem::temp_directory_path(), "berth-plugstack");
  REQUIRE(dir.ok());
  auto file = dir->path() / "site.conf";
  std::ofstream(file) << "image_cache = /from/file\nmount_home = no\ndefault_mounts = /a\n";
  auto getenv = [&](std::string_view name) -> std::optional<std::string> {
    if (name == "BERTH_CONFIG")
      return file.string();
    return std::nullopt;
  };
  auto site = siteConfigFromPlugstack({}, getenv);
  REQUIRE(site.ok());
  CHECK(site->imageCache == "/from/file");

  SUBCASE("arguments override the file, list keys add up") {
    auto overridden = siteConfigFromPlugstack(
        {"image_cache=/from/args", "default_mounts=/b,/c", "allow_user_images=false"}, getenv);
    REQUIRE(overridden.ok());
    CHECK(overridden->imageCache == "/from/args");
    CHECK_FALSE(overridden->mountHome);
    CHECK_FALSE(overridden->allowUserImages);
    CHECK(overridden->defaultMounts == std::vector<std::string>{"/a", "/b", "/c"});
  }
  SUBCASE("config= wins over $BERTH_CONFIG") {
    auto other = dir->path() / "other.conf";
    std::ofstream(other) << "zstd_level = 9\n";
    auto fromArg = siteConfigFromPlugstack({"config=" + other.string()}, getenv);
    REQUIRE(fromArg.ok());
    CHECK(fromArg->zstdLevel == 9);
    CHECK(fromArg->imageCache == "/var/cache/berth");
  }
}

TEST_CASE("plugstack arguments: admin errors are clear") {
  auto message = [](std::vector<std::string> arguments) {
    auto site = siteConfigFromPlugstack(arguments, noEnvironment);
    REQUIRE_FALSE(site.ok());
    return site.error().message();
  };
  CHECK(message({"cache_dir=/x"}) == "plugstack.conf arguments: unknown key `cache_dir`");
  CHECK(message({"verbose"}) == "plugstack.conf arguments: argument `verbose` is not key=value");
  CHECK(message({"=x"}) == "plugstack.conf arguments: argument `=x` is not key=value");
  CHECK(message({"writable=perhaps"}) ==
        "plugstack.conf arguments: writable: `perhaps` is not a boolean (true/false, yes/no, "
        "on/off, 1/0)");
  CHECK(message({"config=/a", "config=/b"}) == "plugstack.conf arguments: `config` is given twice");
  CHECK(message({"config=relative"}) ==
        "plugstack.conf arguments: config: `relative` is not an absolute path");
  CHECK(message({"config=/nonexistent/berth.conf"}) ==
        "plugstack.conf arguments: read site configuration: open `/nonexistent/berth.conf`: No "
        "such file or directory");
}
