// The fake NVIDIA driver tree of tests/data/gpu/make_fake_driver.sh, made in a temporary
// directory for one test.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "shared/core/temp_dir.hpp"

namespace berth::gpu::testing {

// The error message of a Result, or "" (doctest evaluates messages even on success with -s).
template <typename R>
std::string errorOf(const R& result) {
  return result.ok() ? std::string() : result.error().message();
}

// `env`: extra variables for the script ("FAKE_CUDA=12020 FAKE_LIBCUDA=crash").
inline TempDir makeFakeDriver(const std::string& env = "") {
  auto dir = TempDir::create(std::filesystem::temp_directory_path(), "berth-fake-nvidia");
  REQUIRE(dir.ok());
  std::filesystem::path script =
      std::filesystem::path(__FILE__).parent_path().parent_path() / "data/gpu/make_fake_driver.sh";
  std::string command =
      fmt::format("env {} '{}' '{}' >/dev/null", env, script.string(), dir->path().string());
  REQUIRE_MESSAGE(std::system(command.c_str()) == 0, command);
  return std::move(dir).value();
}

}  // namespace berth::gpu::testing
