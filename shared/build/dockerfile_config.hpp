// Image-config values of Dockerfile instructions: HEALTHCHECK, EXPOSE, WORKDIR paths, Go
// durations (dockerfile.hpp applies them to a stage's config).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "shared/build/dockerfile_syntax.hpp"
#include "shared/core/result.hpp"

namespace berth::build {

struct HealthcheckConfig {
  std::vector<std::string> test;  // ["NONE"], ["CMD", argv...] or ["CMD-SHELL", "command"]
  int64_t intervalNs = 0;         // 0: the runtime's default
  int64_t timeoutNs = 0;
  int64_t startPeriodNs = 0;
  int64_t startIntervalNs = 0;
  int retries = 0;
};

// HEALTHCHECK's arguments: NONE, or flags and CMD in shell or exec form.
[[nodiscard]] Result<HealthcheckConfig> parseHealthcheck(const DockerInstruction& instruction);

// Adds EXPOSE's "80", "80/udp", "8000-8002/tcp" to `out` as "80/tcp", ...; `budget` (ports
// still allowed, all ranges together) keeps a hostile range list bounded.
[[nodiscard]] Status addExposedPorts(std::string_view spec, std::set<std::string>& out,
                                     int64_t& budget);

// "/a/./b/../c//" -> "/a/c" (never above "/").
std::string cleanAbsolutePath(std::string_view path);

// "30s", "1m30s", "1.5h", "100ms" (Go durations, as HEALTHCHECK takes them) in nanoseconds.
[[nodiscard]] Result<int64_t> parseGoDuration(std::string_view text);

}  // namespace berth::build
