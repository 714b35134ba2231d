#include <doctest/doctest.h>

#include <map>
#include <set>

#include "spank_plugin/options.hpp"

using namespace berth::spank;

TEST_CASE("option table: unique names and environment variables, all prefixed") {
  std::set<std::string_view> names;
  std::set<std::string_view> environment;
  for (const auto& spec : optionTable()) {
    CHECK(names.insert(spec.name).second);
    CHECK(environment.insert(spec.environment).second);
    CHECK(spec.name.find("container-") != std::string_view::npos);
    CHECK(spec.environment.rfind("BERTH_CONTAINER_", 0) == 0);
    CHECK(spec.usage.rfind("[berth]", 0) == 0);
  }
}

TEST_CASE("option values: idempotent set, argument checks, conflicts") {
  OptionValues values;
  REQUIRE(values.set(OptionId::kImage, "tiny:latest").ok());
  REQUIRE(values.set(OptionId::kImage, "tiny:latest").ok());  // slurmstepd calls twice
  CHECK(values.get(OptionId::kImage) == "tiny:latest");

  auto missing = values.set(OptionId::kMounts, nullptr);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message() == "--container-mounts needs a value (SRC[:DST[:FLAGS]][,...])");
  CHECK_FALSE(values.set(OptionId::kWritable, "yes").ok());
  CHECK(values.set(OptionId::kGpu, nullptr).ok());  // optional argument

  REQUIRE(values.set(OptionId::kWritable, nullptr).ok());
  CHECK(values.checkConflicts().ok());
  REQUIRE(values.set(OptionId::kReadonly, nullptr).ok());
  auto conflict = values.checkConflicts();
  REQUIRE_FALSE(conflict.ok());
  CHECK(conflict.error().message() ==
        "--container-writable and --container-readonly contradict each other");
}

TEST_CASE("environment fallbacks fill only what the command line left out") {
  std::map<std::string, std::string> env{{"BERTH_CONTAINER_IMAGE", "from-env"},
                                         {"BERTH_CONTAINER_WORKDIR", "/work"},
                                         {"BERTH_CONTAINER_WRITABLE", "1"},
                                         {"BERTH_CONTAINER_NO_MOUNT_HOME", "0"}};
  auto getenv = [&](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end())
      return std::nullopt;
    return it->second;
  };
  OptionValues values;
  REQUIRE(values.set(OptionId::kImage, "from-flag").ok());
  values.applyEnvironment(getenv);
  CHECK(values.get(OptionId::kImage) == "from-flag");
  CHECK(values.get(OptionId::kWorkdir) == "/work");
  CHECK(values.has(OptionId::kWritable));
  CHECK_FALSE(values.has(OptionId::kNoMountHome));  // "0" means off
}

TEST_CASE("options without an image are reported") {
  OptionValues values;
  REQUIRE(values.set(OptionId::kWorkdir, "/x").ok());
  auto ignored = values.givenWithoutImage();
  REQUIRE(ignored.size() == 1);
  CHECK(ignored[0] == "container-workdir");
  REQUIRE(values.set(OptionId::kImage, "img").ok());
  CHECK(values.givenWithoutImage().empty());
}
