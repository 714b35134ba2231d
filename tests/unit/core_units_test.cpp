#include <doctest/doctest.h>

#include <cstdlib>

#include "shared/core/process_env.hpp"
#include "shared/core/units.hpp"

using namespace berth;
using std::chrono::seconds;

TEST_CASE("sizes: one set of binary units, either case, optional B") {
  CHECK(*parseSize("0") == 0);
  CHECK(*parseSize("100") == 100);
  CHECK(*parseSize("512M") == 512LL << 20);
  CHECK(*parseSize("4g") == 4LL << 30);
  CHECK(*parseSize("1.5G") == 3LL << 29);
  CHECK(*parseSize("2TB") == 2LL << 40);
  CHECK(*parseSize("10kb") == 10LL << 10);
  for (const char* bad : {"", "G", "-1G", "1X", "1.5.5G", "B", " 1G"})
    CHECK_MESSAGE(!parseSize(bad).ok(), bad);
  CHECK(parseSize("4Q").error().message() == "`4Q` is not a size (like 512M, 4G, 1.5T)");
}

TEST_CASE("durations: s, m, h, d, w -- a bare number in the caller's unit") {
  CHECK(*parseDuration("90") == seconds(90));
  CHECK(*parseDuration("30s") == seconds(30));
  CHECK(*parseDuration("10m") == seconds(600));
  CHECK(*parseDuration("1.5h") == seconds(5400));
  CHECK(*parseDuration("7d") == seconds(7 * 86400));
  CHECK(*parseDuration("2w") == seconds(14 * 86400));
  CHECK(*parseDuration("3", std::chrono::hours(24)) == seconds(3 * 86400));
  for (const char* bad : {"", "h", "-5m", "5y", "1..h"})
    CHECK_MESSAGE(!parseDuration(bad).ok(), bad);
  CHECK(parseDuration("5y").error().message() == "`5y` is not a duration (like 30s, 10m, 2h, 7d)");
}

TEST_CASE("processEnv: set and unset names") {
  ::setenv("BERTH_UNITS_TEST_VAR", "value", 1);
  CHECK(processEnv("BERTH_UNITS_TEST_VAR") == std::optional<std::string>("value"));
  ::unsetenv("BERTH_UNITS_TEST_VAR");
  CHECK_FALSE(processEnv("BERTH_UNITS_TEST_VAR"));
}
